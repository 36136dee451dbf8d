import KernelSpace

/// A genetic search: a random first generation, then children of tournament-selected parents from
/// the fastest configurations measured so far (uniform crossover, each parameter mutated with
/// probability 1 / parameters), never a configuration proposed before.
struct GeneticSearch: BookkeepingSearch {
    /// Configurations per generation.
    static let population = 24

    private(set) var book: ProposalBook
    private var generator: SplitMix64

    init(space: SearchSpace, problem: Problem, budget: Int?, seed: UInt64) {
        book = ProposalBook(space: space, problem: problem, budget: budget, seed: seed)
        generator = SplitMix64(seed: seed ^ 0x6E7E)
    }

    var preferredBatchSize: Int? { Self.population }

    mutating func propose(_ count: Int) -> [Configuration] {
        var chosen = book.startBatch()
        let parents = book.fastest(Self.population)
        if parents.count >= 4 {
            var tries = 0
            while chosen.count < count && tries < 64 * count && !book.isFull {
                tries += 1
                let (mother, father) = (tournament(parents), tournament(parents))
                var child = zip(mother, father).map { generator.next() % 2 == 0 ? $0 : $1 }
                let sizes = book.domainSizes
                for index in child.indices where generator.next() % UInt64(child.count) == 0 {
                    child[index] = Int(generator.next() % UInt64(sizes[index]))
                }
                book.offer(child, into: &chosen)
            }
        }
        if chosen.count < count { book.fillRandomly(&chosen, upTo: count, work: 4096) }
        return chosen
    }

    mutating func observe(_ results: [(configuration: Configuration, measurement: Measurement)]) {
        book.record(results)
    }

    /// The faster of three parents drawn at random (the list is fastest first).
    private mutating func tournament(_ parents: [[Int]]) -> [Int] {
        let draws = (0..<3).map { _ in Int(generator.next() % UInt64(parents.count)) }
        return parents[draws.min()!]
    }
}
