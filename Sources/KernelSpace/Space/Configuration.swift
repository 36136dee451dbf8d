/// One point of a template's search space: a value for every parameter, in the space's order.
public struct Configuration: Hashable, Sendable, CustomStringConvertible {
    /// Names, in order.
    public var names: [String]
    /// Values, in the order of the names.
    public var values: [ParameterValue]

    /// Creates a value with every field given.
    public init(names: [String], values: [ParameterValue]) {
        precondition(names.count == values.count)
        self.names = names
        self.values = values
    }

    /// The canonical key: `name=value` pairs in parameter order, joined by commas.
    public var key: String {
        zip(names, values).map { "\($0)=\($1)" }.joined(separator: ",")
    }

    /// The text shown to a person.
    public var description: String { key }

    /// The value of a named parameter.
    public subscript(_ name: String) -> ParameterValue {
        guard let index = names.firstIndex(of: name) else {
            preconditionFailure("configuration has no parameter \(name)")
        }
        return values[index]
    }
}
