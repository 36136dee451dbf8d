/// The values of a choice parameter or problem option: an enum whose raw values are the names
/// written in configuration keys, problem texts and space files.
public protocol ParameterChoice: CaseIterable, Hashable, Sendable, RawRepresentable where RawValue == String {}

extension Engine: ParameterChoice {}

/// A template's integer parameter, declared once with its domain and default; reading it from a
/// configuration yields an `Int`.
///
/// ```swift
/// static let tileM = IntKey("tile_m", [32, 64, 128], default: 128, "rows of X per matmul")
/// let rows = configuration[Self.tileM]
/// ```
public struct IntKey: Sendable, Hashable {
    /// The parameter as the space lists it.
    public let parameter: Parameter

    /// A key with its values, default and one line on what it changes.
    public init(_ name: String, _ values: [Int], default defaultValue: Int, _ summary: String) {
        parameter = Parameter(name, .ints(values), default: .int(defaultValue), summary)
    }

    /// The built-in values.
    public var values: [Int] { parameter.domain.values.compactMap(\.intValue) }
}

/// A template's choice parameter, declared once with its values (a subset of `Value`'s cases, in
/// the space's order) and default; reading it from a configuration yields a `Value`.
public struct ChoiceKey<Value: ParameterChoice>: Sendable, Hashable {
    /// The parameter as the space lists it.
    public let parameter: Parameter

    /// A key with its values, default and one line on what it changes.
    public init(_ name: String, _ values: [Value], default defaultValue: Value, _ summary: String) {
        parameter = Parameter(name, .choices(values.map(\.rawValue)), default: .choice(defaultValue.rawValue), summary)
    }
}

extension Configuration {
    /// The value of an integer parameter. Configurations are made from their space's domains, so
    /// a missing or mistyped value is a programming error, not input to recover from.
    public subscript(_ key: IntKey) -> Int {
        guard case .int(let value) = self[key.parameter.name] else {
            preconditionFailure("\(key.parameter.name) is not an integer in \(self.key)")
        }
        return value
    }

    /// The value of a choice parameter; a name outside `Value` is a programming error (a space
    /// file's values are checked against the template's when it is read).
    public subscript<Value: ParameterChoice>(_ key: ChoiceKey<Value>) -> Value {
        guard case .choice(let name) = self[key.parameter.name], let value = Value(rawValue: name) else {
            preconditionFailure("\(key.parameter.name) is not a choice of \(Value.self) in \(self.key)")
        }
        return value
    }

    /// The same configuration with one choice changed.
    public func with<Value: ParameterChoice>(_ key: ChoiceKey<Value>, _ value: Value) -> Configuration {
        var copy = self
        if let index = names.firstIndex(of: key.parameter.name) { copy.values[index] = .choice(value.rawValue) }
        return copy
    }
}

/// A size or offset field of a template's problem; reading it from a problem yields an `Int`.
public struct SizeField: Sendable, Hashable {
    /// The field as the problem lists it.
    public let field: ProblemField

    /// A positive size (`M`), optionally with a default.
    public init(_ name: String, default defaultValue: Int? = nil) {
        field = ProblemField(name, .size, default: defaultValue.map { .int($0) })
    }

    /// A non-negative position or offset.
    public init(offset name: String, default defaultValue: Int? = nil) {
        field = ProblemField(name, .offset, default: defaultValue.map { .int($0) })
    }
}

/// A choice option of a template's problem; reading it from a problem yields a `Value`.
public struct ChoiceField<Value: ParameterChoice>: Sendable, Hashable {
    /// The field as the problem lists it.
    public let field: ProblemField

    /// An option among `values`, with a default.
    public init(_ name: String, _ values: [Value] = Array(Value.allCases), default defaultValue: Value) {
        field = ProblemField(name, .choice(values.map(\.rawValue)), default: .choice(defaultValue.rawValue))
    }
}

extension Problem {
    /// The value of a size or offset field (problems are parsed against their fields, so it is there).
    public subscript(_ key: SizeField) -> Int {
        guard let index = names.firstIndex(of: key.field.name), case .int(let value) = values[index] else {
            preconditionFailure("problem \(self.key) has no size \(key.field.name)")
        }
        return value
    }

    /// The value of a choice option.
    public subscript<Value: ParameterChoice>(_ key: ChoiceField<Value>) -> Value {
        guard let index = names.firstIndex(of: key.field.name), case .choice(let name) = values[index],
            let value = Value(rawValue: name)
        else { preconditionFailure("problem \(self.key) has no option \(key.field.name) of \(Value.self)") }
        return value
    }

    /// Whether the problem has a field (templates whose fields vary by instance).
    public func has(_ key: ChoiceField<some ParameterChoice>) -> Bool { names.contains(key.field.name) }

    /// The same problem with one size changed.
    public func with(_ key: SizeField, _ value: Int) -> Problem {
        var copy = self
        if let index = names.firstIndex(of: key.field.name) { copy.values[index] = .int(value) }
        return copy
    }
}

/// A two-valued problem option written `0` or `1` (a fused residual, a fused norm).
public enum Toggle: String, ParameterChoice {
    /// `0`.
    case off = "0"
    /// `1`.
    case on = "1"
}

/// Element type of a problem's operands.
public enum ElementType: String, ParameterChoice {
    /// bfloat16.
    case bf16
    /// float32.
    case fp32

    /// The buffer type.
    public var dtype: DType { self == .bf16 ? .bf16 : .fp32 }
}
