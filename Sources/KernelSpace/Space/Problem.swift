/// One dimension or option of a template's problem, such as `M` or `act`.
public struct ProblemField: Hashable, Sendable {
    /// What a field holds.
    public enum Kind: Hashable, Sendable {
        /// A positive size.
        case size
        /// A non-negative position or offset.
        case offset
        /// One of a fixed list of names.
        case choice([String])
    }

    /// The name written in problem texts (`M`).
    public var name: String
    /// What the field holds.
    public var kind: Kind
    /// Used when the problem text leaves the field out; nil makes it required.
    public var defaultValue: ParameterValue?

    /// Creates a value with every field given.
    public init(_ name: String, _ kind: Kind, default defaultValue: ParameterValue? = nil) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
    }
}

/// The shape a kernel is tuned for, e.g. `M=640,K=2048,N=768,act=none,dtype=bf16`.
public struct Problem: Hashable, Sendable, CustomStringConvertible {
    /// Names, in order.
    public var names: [String]
    /// Values, in the order of the names.
    public var values: [ParameterValue]

    /// Creates a value with every field given.
    public init(names: [String], values: [ParameterValue]) {
        self.names = names
        self.values = values
    }

    /// Largest size or offset a problem field may take (2^24), so that sizes, products of a few
    /// of them and byte counts stay far from integer overflow.
    public static let maximumSize = 1 << 24
    /// Largest product of a problem's sizes (2^48): beyond it no program fits a time budget.
    public static let maximumElements = 1 << 48

    /// Canonical text: every field in the template's order.
    public var key: String { zip(names, values).map { "\($0)=\($1)" }.joined(separator: ",") }

    /// The text shown to a person.
    public var description: String { key }

    /// The value of a field by name, for the edges (command line, tests); templates read their
    /// fields through typed keys (``SizeField``, ``ChoiceField``).
    public subscript(_ name: String) -> ParameterValue? {
        names.firstIndex(of: name).map { values[$0] }
    }
}

extension Array where Element == ProblemField {
    /// Parses `NAME=VALUE,...` against these fields; every size must be a positive integer.
    ///
    /// ```swift
    /// let problem = try LinearTemplate().problemFields.parse("M=640,K=2048,N=768")
    /// ```
    public func parse(_ text: String) throws(KernelSpaceError) -> Problem {
        var given: [String: Substring] = [:]
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pieces.count == 2, !pieces[0].isEmpty else {
                throw KernelSpaceError(.problem, "malformed problem entry '\(part)': expected NAME=VALUE")
            }
            let name = String(pieces[0].trimmingSpaces)
            guard contains(where: { $0.name == name }) else {
                let known = map(\.name).joined(separator: ", ")
                throw KernelSpaceError(.problem, "unknown problem dimension '\(name)' (expected \(known))")
            }
            guard given[name] == nil else {
                throw KernelSpaceError(.problem, "problem dimension '\(name)' given twice")
            }
            given[name] = pieces[1].trimmingSpaces
        }
        var values: [ParameterValue] = []
        for field in self {
            guard let raw = given[field.name] else {
                guard let fallback = field.defaultValue else {
                    throw KernelSpaceError(.problem, "problem is missing dimension '\(field.name)'")
                }
                values.append(fallback)
                continue
            }
            switch field.kind {
            case .size, .offset:
                guard let value = Int(raw) else {
                    throw KernelSpaceError(.problem, "problem dimension \(field.name)=\(raw) is not an integer")
                }
                if field.kind == .size && value <= 0 {
                    throw KernelSpaceError(.problem, "problem dimension \(field.name)=\(raw) must be positive")
                }
                if value < 0 {
                    throw KernelSpaceError(.problem, "problem dimension \(field.name)=\(raw) must not be negative")
                }
                if value > Problem.maximumSize {
                    throw KernelSpaceError(
                        .problem, "problem dimension \(field.name)=\(raw) is over the limit of \(Problem.maximumSize)")
                }
                values.append(.int(value))
            case .choice(let names):
                guard names.contains(String(raw)) else {
                    throw KernelSpaceError(
                        .problem, "problem option \(field.name)=\(raw) is not one of \(names.joined(separator: ", "))")
                }
                values.append(.choice(String(raw)))
            }
        }
        let problem = Problem(names: map(\.name), values: values)
        let sizes = zip(self, values).compactMap { field, value in field.kind == .size ? value.intValue : nil }
        let (product, overflow) = sizes.reduce((1, false)) { total, size in
            let (next, overflow) = total.0.multipliedReportingOverflow(by: size)
            return (next, total.1 || overflow)
        }
        if overflow || product > Problem.maximumElements {
            throw KernelSpaceError(
                .problem,
                "problem \(problem.key) is too large: the product of its sizes is over the limit of "
                    + "\(Problem.maximumElements) (2^48)")
        }
        return problem
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var result = self
        while result.first == " " { result = result.dropFirst() }
        while result.last == " " { result = result.dropLast() }
        return result
    }
}
