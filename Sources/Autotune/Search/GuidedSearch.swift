import Foundation
import KernelSpace

/// Model-guided search: ranks the valid space by predicted latency (the whole space up to
/// ``poolLimit`` candidates, drawn in growing chunks so the first proposals come at once),
/// proposes the most promising (the space's default second, as the baseline), and re-ranks the
/// rest as measurements arrive.
///
/// Two corrections learn from the measurements. When the measured latencies stray from the
/// predictions by more than measurement noise, the guide refits itself (the performance model
/// calibrates its inferred constants) at 8, 16, 32, ... measurements and the best part of the pool
/// is predicted again. What a refit cannot explain, a residual model takes: log(measured /
/// predicted) as a shrunk mean per parameter value. Against the performance model itself the
/// residual is zero and the ranking exact.
struct GuidedSearch: BookkeepingSearch {
    /// Candidates ranked at most at a time.
    static let poolLimit = 1 << 16
    /// Candidates predicted by the first call; each later call doubles it until the pool is full.
    static let firstChunk = 2048
    /// Candidates at the top of the ranking predicted again after a refit; the rest are scaled by
    /// the median change of those.
    static let refocus = 2048
    /// Measured variants a refit uses at most: the fastest, where the ranking matters.
    static let refitSamples = 32
    /// Below this RMS log error the model is as good as the measurements' noise: no refit.
    static let refitThreshold = 0.02
    /// Predictions a hill climb from the pool's best may spend after each chunk.
    static let climbLimit = 2048
    /// Restriction checks one climb's repairs of refused moves spend at most.
    static let repairChecks = 50_000

    private(set) var book: ProposalBook
    private var guide: LatencyGuide
    private var pool: [(point: [Int], predicted: Double)] = []
    private var chunk = GuidedSearch.firstChunk
    private var measured: [(point: [Int], latency: Double, predicted: Double)] = []
    private var nextRefit = 8
    private var residuals: [[(sum: Double, count: Double)]]
    private var globalResidual = (sum: 0.0, count: 0.0)
    private var predictions: [[Int]: Double] = [:]
    /// Positions of a fused block's own parameters (not a stage's).
    private let blockPositions: Set<Int>
    private let repair: MoveRepair
    /// Per parameter, the other parameters of its stage (of the template, when it is not a fused
    /// block): those a repaired move is polished over.
    private let companions: [[Int]]
    /// Rounds of single moves that polish a repaired move.
    static let polishRounds = 3

    init(space: SearchSpace, problem: Problem, budget: Int?, seed: UInt64, guide: LatencyGuide) {
        book = ProposalBook(space: space, problem: problem, budget: budget, seed: seed)
        self.guide = guide
        let blockNames = Set((space.template as? any StagedTemplate)?.blockParameters.map(\.name) ?? [])
        blockPositions = Set(space.parameters.indices.filter { blockNames.contains(space.parameters[$0].name) })
        repair = MoveRepair(space: space, problem: problem)
        let prefixes = (space.template as? any StagedTemplate)?.stages.map(\.prefix) ?? []
        let stage = space.parameters.map { parameter in prefixes.firstIndex { parameter.name.hasPrefix($0) } ?? -1 }
        companions = stage.indices.map { index in stage.indices.filter { $0 != index && stage[$0] == stage[index] } }
        residuals = space.parameters.map {
            [(sum: Double, count: Double)](repeating: (0, 0), count: $0.domain.values.count)
        }
    }

    var isExhausted: Bool { book.isFull && pool.isEmpty || book.census.proposed >= book.limit }
    var preferredBatchSize: Int? { 8 }

    mutating func propose(_ count: Int) -> [Configuration] {
        var chosen: [Configuration] = []
        if pool.count < Self.poolLimit && !book.isFull { grow() }
        let ranked = pool.map { (entry: $0, key: corrected($0)) }.sorted { $0.key < $1.key }
        pool = ranked.map(\.entry)
        // The best prediction is measured first; the default (the baseline speedups are
        // reported against) follows it in the first batch.
        while chosen.isEmpty && !pool.isEmpty && book.census.proposed < book.limit {
            book.offer(pool.removeFirst().point, into: &chosen)
        }
        chosen += book.startBatch()
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
            measured.append((point, latency, predicted))
            addResidual(point, Foundation.log(latency / predicted))
        }
        if measured.count >= nextRefit {
            nextRefit = 2 * measured.count
            refit()
        }
    }

    /// Pools each configuration (a fused block's stages at their tuned best, say) that is in the
    /// space, valid and new, and climbs from it: a start a random pool would rarely hold.
    mutating func start(from configurations: [Configuration]) {
        for configuration in configurations {
            guard let point = book.exactPoint(configuration), predictions[point] == nil, !book.wasProposed(point),
                book.isValid(point), let predicted = pooled(point)
            else { continue }
            climb(from: (point, predicted), pairs: true)
        }
    }

    /// Draws the next chunk of valid candidates into the pool, predicting each now.
    private mutating func grow() {
        let wanted = min(chunk, Self.poolLimit - pool.count)
        chunk = min(2 * chunk, Self.poolLimit)
        for point in book.drawCandidates(upTo: wanted, work: 40 * wanted) { pooled(point) }
        climb()
    }

    /// Climbs from the best predicted candidate one parameter at a time: every valid neighbour
    /// (one value changed) is predicted and pooled, and the climb moves to the best until none is
    /// faster or ``climbLimit`` predictions are spent. A random pool of a space that is a product
    /// of nearly independent parts (a fused block's stages) rarely holds a point good in every
    /// part; the climb reaches one.
    private mutating func climb() {
        guard let best = pool.min(by: { $0.predicted < $1.predicted }) else { return }
        climb(from: best, pairs: false)
    }

    /// The climb of ``climb()`` from `start`. With `pairs`, where single moves stop the climb
    /// tries two at once: a move the restrictions refuse with each second move that makes it
    /// valid (a weight operand and the contraction order it allows), and a move of a fused
    /// block's own parameter (how its stages hand over) with each single move of the rest, and
    /// goes on from the best pair if it is faster. A refused move that no second move makes
    /// valid is also tried as ``MoveRepair`` leaves it and ``polish(_:moved:_:)`` improves it,
    /// until the climb's repairs have spent ``repairChecks`` restriction checks.
    private mutating func climb(from start: (point: [Int], predicted: Double), pairs: Bool) {
        var best = start
        var spent = 0
        var checks = 0
        var pairing = false
        while spent < Self.climbLimit {
            var next = best
            for index in best.point.indices {
                for value in 0..<book.domainSizes[index] where value != best.point[index] {
                    var point = best.point
                    point[index] = value
                    guard pairing else {
                        consider(point, &next, &spent)
                        continue
                    }
                    let refused = !book.isValid(point)
                    guard blockPositions.contains(index) || refused else { continue }
                    var paired = false
                    for other in point.indices where other != index {
                        for second in 0..<book.domainSizes[other] where second != point[other] {
                            var pair = point
                            pair[other] = second
                            guard book.isValid(pair) else { continue }
                            paired = true
                            consider(pair, &next, &spent, valid: true)
                        }
                    }
                    if refused && !paired,
                        let repaired = repair.repaired(
                            point, keeping: index, checks: &checks, limit: Self.repairChecks),
                        let polished = polish(repaired, moved: index, &spent), polished.predicted < next.predicted
                    {
                        next = polished
                    }
                }
            }
            if next.point != best.point {
                best = next
                pairing = false
            } else if pairing || !pairs {
                return
            } else {
                pairing = true
            }
        }
    }

    /// A repaired point, pooled, then moved by the best single move of its stage's other
    /// parameters while one is faster (at most ``polishRounds`` times): a repair leaves those as
    /// they were (a weight operand's buffer count, say), so it is judged at its best nearby, not
    /// as it lands. Nil when the point was predicted or proposed before or cannot run.
    private mutating func polish(_ start: [Int], moved: Int, _ spent: inout Int) -> (point: [Int], predicted: Double)? {
        guard spent < Self.climbLimit, predictions[start] == nil, !book.wasProposed(start),
            let predicted = pooled(start)
        else { return nil }
        spent += 1
        var best = (point: start, predicted: predicted)
        for _ in 0..<Self.polishRounds {
            var next = best
            for index in companions[moved] {
                for value in 0..<book.domainSizes[index] where value != best.point[index] {
                    var point = best.point
                    point[index] = value
                    consider(point, &next, &spent)
                }
            }
            guard next.point != best.point else { break }
            best = next
        }
        return best
    }

    /// Predicts and pools `point` unless the climb's predictions are spent, it was predicted or
    /// proposed before, or it is not valid (checked unless the caller knows it is `valid`); keeps
    /// it in `next` if faster.
    private mutating func consider(
        _ point: [Int], _ next: inout (point: [Int], predicted: Double), _ spent: inout Int, valid: Bool = false
    ) {
        guard spent < Self.climbLimit, predictions[point] == nil, !book.wasProposed(point),
            valid || book.isValid(point)
        else { return }
        spent += 1
        if let predicted = pooled(point), predicted < next.predicted { next = (point, predicted) }
    }

    /// Predicts `point` and adds it to the pool; nil (and not pooled) when it cannot run.
    @discardableResult
    private mutating func pooled(_ point: [Int]) -> Double? {
        guard let predicted = guide.predict(book.configuration(point)) else { return nil }
        predictions[point] = predicted
        pool.append((point, predicted))
        return predicted
    }

    /// Refits the guide to the fastest measurements when they stray from its predictions, then
    /// predicts the top of the pool again and rebuilds the residual model on the new predictions.
    private mutating func refit() {
        guard let refit = guide.refit else { return }
        let errors = measured.map { Foundation.log($0.latency / $0.predicted) }
        let rms = (errors.map { $0 * $0 }.reduce(0, +) / Double(max(1, errors.count))).squareRoot()
        guard rms > Self.refitThreshold else { return }
        let fastest = measured.sorted { $0.latency < $1.latency }.prefix(Self.refitSamples)
        guide = refit(fastest.map { (book.configuration($0.point), $0.latency) })

        let keys = pool.map(corrected)
        let top = pool.indices.sorted { keys[$0] < keys[$1] }.prefix(Self.refocus)
        var changes: [Double] = []
        for index in top {
            guard let predicted = guide.predict(book.configuration(pool[index].point)), predicted > 0 else { continue }
            changes.append(Foundation.log(predicted / pool[index].predicted))
            pool[index].predicted = predicted
            predictions[pool[index].point] = predicted
        }
        let refocused = Set(top)
        let median = changes.isEmpty ? 0 : changes.sorted()[changes.count / 2]
        for index in pool.indices where !refocused.contains(index) {
            pool[index].predicted *= Foundation.exp(median)
            predictions[pool[index].point] = pool[index].predicted
        }
        residuals = residuals.map { $0.map { _ in (0, 0) } }
        globalResidual = (0, 0)
        for index in measured.indices {
            let entry = measured[index]
            let predicted = guide.predict(book.configuration(entry.point)) ?? entry.predicted
            measured[index].predicted = predicted
            addResidual(entry.point, Foundation.log(entry.latency / predicted))
        }
    }

    private mutating func addResidual(_ point: [Int], _ residual: Double) {
        globalResidual.sum += residual
        globalResidual.count += 1
        for (index, value) in point.enumerated() {
            residuals[index][value].sum += residual
            residuals[index][value].count += 1
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
