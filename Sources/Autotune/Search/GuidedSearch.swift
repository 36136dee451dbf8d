import Foundation
import KernelSpace

/// Predicts a configuration's latency (ns), or nil when it cannot run (over a hardware limit).
public struct LatencyGuide: Sendable {
    /// The prediction.
    public let predict: @Sendable (Configuration) -> Double?

    /// A guide from any predictor.
    public init(_ predict: @escaping @Sendable (Configuration) -> Double?) { self.predict = predict }
}

/// Model-guided search: ranks a pool of valid configurations (the whole space when small, else a
/// seeded sample that grows as it is used) by predicted latency, proposes the most promising, and
/// re-ranks the rest as measurements arrive, the prediction corrected by a residual model fitted
/// to them: log(measured / predicted) as a shrunk mean per parameter value. Against the
/// performance model itself the residual is zero and the ranking exact; against hardware the
/// correction learns where the model is wrong.
struct GuidedSearch: BookkeepingSearch {
    /// Configurations ranked at a time.
    static let poolSize = 2048

    private(set) var book: ProposalBook
    private let guide: LatencyGuide
    private var pool: [(point: [Int], predicted: Double)] = []
    private var residuals: [[(sum: Double, count: Double)]]
    private var globalResidual = (sum: 0.0, count: 0.0)
    private var predictions: [[Int]: Double] = [:]

    init(space: SearchSpace, problem: Problem, budget: Int?, seed: UInt64, guide: LatencyGuide) {
        book = ProposalBook(space: space, problem: problem, budget: budget, seed: seed)
        self.guide = guide
        residuals = space.parameters.map {
            [(sum: Double, count: Double)](repeating: (0, 0), count: $0.domain.values.count)
        }
    }

    var isExhausted: Bool { book.isFull && pool.isEmpty || book.census.proposed >= book.limit }
    var preferredBatchSize: Int? { 8 }

    mutating func propose(_ count: Int) -> [Configuration] {
        var chosen = book.startBatch()
        if pool.count < Self.poolSize / 2 && !book.isFull { refill() }
        let ranked = pool.map { (entry: $0, key: corrected($0)) }.sorted { $0.key < $1.key }
        pool = ranked.map(\.entry)
        while chosen.count < count && !pool.isEmpty && book.census.proposed < book.limit {
            book.offer(pool.removeFirst().point, into: &chosen)
        }
        return chosen
    }

    mutating func observe(_ results: [(configuration: Configuration, measurement: Measurement)]) {
        book.record(results)
        for (configuration, measurement) in results {
            let point = book.point(configuration)
            guard measurement.status == .ok, let latency = measurement.latency, latency > 0,
                let predicted = predictions[point] ?? guide.predict(configuration), predicted > 0
            else { continue }
            let residual = Foundation.log(latency / predicted)
            globalResidual.sum += residual
            globalResidual.count += 1
            for (index, value) in point.enumerated() {
                residuals[index][value].sum += residual
                residuals[index][value].count += 1
            }
        }
    }

    /// Draws new candidates into the pool, predicting each now.
    private mutating func refill() {
        for point in book.drawCandidates(upTo: Self.poolSize, work: 40 * Self.poolSize) {
            guard let predicted = guide.predict(book.configuration(point)) else { continue }
            predictions[point] = predicted
            pool.append((point, predicted))
        }
    }

    /// The prediction corrected by the residual model (log space, shrunk toward the mean).
    private func corrected(_ entry: (point: [Int], predicted: Double)) -> Double {
        guard globalResidual.count > 0 else { return entry.predicted }
        let mean = globalResidual.sum / globalResidual.count
        var correction = mean
        for (index, value) in entry.point.enumerated() {
            let cell = residuals[index][value]
            guard cell.count > 0 else { continue }
            let shrink = cell.count / (cell.count + 3)
            correction += shrink * (cell.sum / cell.count - mean)
        }
        return entry.predicted * Foundation.exp(correction)
    }
}
