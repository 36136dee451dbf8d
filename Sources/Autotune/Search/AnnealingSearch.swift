import Foundation
import KernelSpace

/// Simulated annealing over the configuration's parameters: proposes neighbours of the current
/// configuration (one or two parameters moved to an adjacent value, or to any value), accepts a
/// worse one with probability `exp(-Δ / T)` on log latency, the temperature cooling with every
/// result; random configurations while nothing valid is known, or when the neighbourhood is spent.
struct AnnealingSearch: BookkeepingSearch {
    private(set) var book: ProposalBook
    private var generator: SplitMix64
    private var current: [Int]?
    private var currentCost = Double.infinity
    private var temperature = 0.1

    init(space: SearchSpace, problem: Problem, budget: Int?, seed: UInt64) {
        book = ProposalBook(space: space, problem: problem, budget: budget, seed: seed)
        generator = SplitMix64(seed: seed ^ 0xA11E)
    }

    var preferredBatchSize: Int? { 8 }

    mutating func propose(_ count: Int) -> [Configuration] {
        var chosen = book.startBatch()
        if let current {
            var tries = 0
            while chosen.count < count && tries < 64 * count && !book.isFull {
                tries += 1
                book.offer(book.neighbour(of: current, &generator), into: &chosen)
            }
        }
        if chosen.count < count { book.fillRandomly(&chosen, upTo: count, work: 4096) }
        return chosen
    }

    mutating func observe(_ results: [(configuration: Configuration, measurement: Measurement)]) {
        book.record(results)
        for (configuration, measurement) in results {
            guard measurement.status == .ok, let latency = measurement.latency, latency > 0 else { continue }
            let cost = Foundation.log(latency)
            let point = book.point(configuration)
            defer { temperature = max(1e-3, temperature * 0.99) }
            guard current != nil else {
                (current, currentCost) = (point, cost)
                continue
            }
            let accept = Double(generator.nextUnitFloat())
            if cost < currentCost || accept < Foundation.exp(-(cost - currentCost) / temperature) {
                (current, currentCost) = (point, cost)
            }
        }
    }
}
