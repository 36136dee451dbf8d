/// A typed parameter value. Choices are names from the template's own list, never user text.
public enum ParameterValue: Hashable, Sendable, CustomStringConvertible {
    case int(Int)
    case choice(String)
    case bool(Bool)

    /// The text shown to a person.
    public var description: String {
        switch self {
        case .int(let value): String(value)
        case .choice(let name): name
        case .bool(let value): value ? "true" : "false"
        }
    }

    /// The integer, or nil for other kinds.
    public var intValue: Int? {
        if case .int(let value) = self { return value }
        return nil
    }
}

/// The values a parameter may take.
public enum Domain: Hashable, Sendable {
    case ints([Int])
    case choices([String])
    case bool

    /// Every value, in order.
    public var values: [ParameterValue] {
        switch self {
        case .ints(let values): values.map { .int($0) }
        case .choices(let names): names.map { .choice($0) }
        case .bool: [.bool(false), .bool(true)]
        }
    }

    /// Parses a value written in a configuration key; nil if it is not in the domain.
    public func parse(_ text: Substring) -> ParameterValue? {
        switch self {
        case .ints(let values):
            guard let value = Int(text), values.contains(value) else { return nil }
            return .int(value)
        case .choices(let names):
            return names.contains(String(text)) ? .choice(String(text)) : nil
        case .bool:
            switch text {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: return nil
            }
        }
    }
}

/// A tunable parameter of a template.
public struct Parameter: Hashable, Sendable {
    /// The name written in configuration keys and space files (`tile_m`).
    public var name: String
    /// The values it may take.
    public var domain: Domain
    /// The value when none is given.
    public var defaultValue: ParameterValue
    /// What the parameter changes, for `nkitune kernels`.
    public var summary: String

    /// Creates a value with every field given.
    public init(_ name: String, _ domain: Domain, default defaultValue: ParameterValue, _ summary: String) {
        precondition(domain.values.contains(defaultValue), "default of \(name) must be in its domain")
        self.name = name
        self.domain = domain
        self.defaultValue = defaultValue
        self.summary = summary
    }
}
