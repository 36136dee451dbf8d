import Foundation
import KernelSpace

/// Bayesian optimisation with a tree-structured Parzen estimator (Bergstra et al., 2011) over the
/// configuration's parameters: after a random start, the measured configurations are split into
/// the fastest quarter and the rest; per parameter, smoothed frequencies of each value in either
/// group give densities `l` and `g`; of candidates drawn from `l`, the one with the largest
/// `l / g` (the expected-improvement criterion of TPE) is proposed.
struct ParzenSearch: BookkeepingSearch {
    /// Random configurations measured before the estimator is used.
    static let startup = 16
    /// Share of measured configurations counted as good.
    static let quantile = 0.25
    /// Candidates drawn from `l` per proposal.
    static let candidates = 48

    private(set) var book: ProposalBook
    private var generator: SplitMix64

    init(space: SearchSpace, problem: Problem, budget: Int?, seed: UInt64) {
        book = ProposalBook(space: space, problem: problem, budget: budget, seed: seed)
        generator = SplitMix64(seed: seed ^ 0x7BE0)
    }

    var preferredBatchSize: Int? { 4 }

    mutating func propose(_ count: Int) -> [Configuration] {
        var chosen = book.startBatch()
        let ranked = book.fastest(Int.max)
        if book.observed.count >= Self.startup && !ranked.isEmpty {
            let goodCount = max(1, Int(Double(book.observed.count) * Self.quantile))
            let good = Array(ranked.prefix(goodCount))
            let goodSet = Set(good)
            let bad = book.observed.filter { point in !goodSet.contains(point) }
            let (l, g) = (densities(good), densities(bad))
            var rounds = 0
            while chosen.count < count && rounds < 16 * count && !book.isFull {
                rounds += 1
                var best: (point: [Int], score: Double)?
                for _ in 0..<Self.candidates {
                    let point = l.map { sample($0) }
                    guard !book.wasProposed(point) else { continue }
                    let score = zip(point.indices, point).reduce(0.0) { total, entry in
                        total + Foundation.log(l[entry.0][entry.1]) - Foundation.log(g[entry.0][entry.1])
                    }
                    if best == nil || score > best!.score { best = (point, score) }
                }
                if let best { book.offer(best.point, into: &chosen) }
            }
        }
        if chosen.count < count { book.fillRandomly(&chosen, upTo: count, work: 4096) }
        return chosen
    }

    mutating func observe(_ results: [(configuration: Configuration, measurement: Measurement)]) {
        book.record(results)
    }

    /// Per parameter, the smoothed frequency of each value among `points`.
    private func densities(_ points: [[Int]]) -> [[Double]] {
        book.domainSizes.enumerated().map { index, size in
            var counts = [Double](repeating: 1, count: size)
            for point in points { counts[point[index]] += 1 }
            let total = counts.reduce(0, +)
            return counts.map { $0 / total }
        }
    }

    private mutating func sample(_ weights: [Double]) -> Int {
        var draw = Double(generator.nextUnitFloat())
        for (index, weight) in weights.enumerated() {
            draw -= weight
            if draw <= 0 { return index }
        }
        return weights.count - 1
    }
}
