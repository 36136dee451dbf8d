/// One point of a template's search space: a value for every parameter, in the space's order.
public struct Configuration: Hashable, Sendable, CustomStringConvertible {
    public var names: [String]
    public var values: [ParameterValue]

    public init(names: [String], values: [ParameterValue]) {
        precondition(names.count == values.count)
        self.names = names
        self.values = values
    }

    /// The canonical key: `name=value` pairs in parameter order, joined by commas.
    public var key: String {
        zip(names, values).map { "\($0)=\($1)" }.joined(separator: ",")
    }

    public var description: String { key }

    /// The value of a named parameter.
    public subscript(_ name: String) -> ParameterValue {
        guard let index = names.firstIndex(of: name) else {
            preconditionFailure("configuration has no parameter \(name)")
        }
        return values[index]
    }
}
