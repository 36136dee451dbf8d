/// Distinct indices below `total` drawn uniformly from a seeded SplitMix64, one at a time: the
/// sampling order of the random search, and of ``SearchSpace/sampleIndices(count:seed:)``.
public struct IndexDraws: IteratorProtocol, Sendable {
    private var generator: SplitMix64
    private var drawn = Set<Int>()
    private let total: Int

    /// Draws from `0 ..< total` (which must be positive) with `seed`.
    public init(total: Int, seed: UInt64) {
        generator = SplitMix64(seed: seed)
        self.total = total
    }

    /// The next index not drawn before; nil once every index has been drawn.
    public mutating func next() -> Int? {
        guard drawn.count < total else { return nil }
        while true {
            let index = Int(generator.next() % UInt64(total))
            if drawn.insert(index).inserted { return index }
        }
    }
}
