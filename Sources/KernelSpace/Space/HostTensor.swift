/// A dense row-major tensor on the host, used as interpreter input and output.
public struct HostTensor: Hashable, Sendable {
    /// The shape, outermost dimension first.
    public var shape: [Int]
    /// The elements, row-major.
    public var data: [Float]

    /// Creates a value with every field given.
    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "data does not fill shape \(shape)")
        self.shape = shape
        self.data = data
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: Array(repeating: 0, count: shape.reduce(1, *)))
    }

    /// Uniform values in [-1, 1), rounded to `dtype`, from a seeded generator.
    public static func random(_ shape: [Int], dtype: DType, seed: UInt64) -> HostTensor {
        var generator = SplitMix64(seed: seed)
        let count = shape.reduce(1, *)
        let data = (0..<count).map { _ in dtype.round(generator.nextUnitFloat() * 2 - 1) }
        return HostTensor(shape: shape, data: data)
    }
}
