import CostModel
import Foundation
import KernelSpace
import MoEModel

/// What to tune over a whole model.
public struct ModelTuneRequest: Sendable {
    /// The deployment whose scored time is minimised.
    public var deployment: Deployment
    /// The chip.
    public var target: Target
    /// Search spaces by template id (a task without one is left out).
    public var spaces: [String: SearchSpace]
    /// How each task's configurations are proposed.
    public var strategy: Strategy
    /// How slices are shared among tasks.
    public var policy: SchedulePolicy
    /// Most measurements over the whole run (spent ones included); nil for no limit.
    public var budget: Int?
    /// Most seconds over the whole run (spent ones included); nil for no limit.
    public var time: Double?
    /// New measurements per slice of one task.
    public var slice: Int
    /// New measurements of each task's warm-up slice (its first in this process).
    public var warmUpSlice: Int
    /// Seed of randomised strategies.
    public var seed: UInt64
    /// Threads that compile and measure.
    public var jobs: Int
    /// Fastest variants of a task that must pass the numeric check after each of its slices.
    public var verify: Int

    /// A request; at least one of `budget` and `time` should be set, or the run goes on until
    /// every task's space is exhausted.
    public init(
        deployment: Deployment, target: Target, spaces: [String: SearchSpace], strategy: Strategy = .random,
        policy: SchedulePolicy = .gradient, budget: Int? = nil, time: Double? = nil, slice: Int = 32,
        warmUpSlice: Int? = nil, seed: UInt64 = 1, jobs: Int = ProcessInfo.processInfo.activeProcessorCount,
        verify: Int = 1
    ) {
        self.deployment = deployment
        self.target = target
        self.spaces = spaces
        self.strategy = strategy
        self.policy = policy
        self.budget = budget
        self.time = time
        self.slice = max(1, slice)
        self.warmUpSlice = max(1, warmUpSlice ?? (slice + 3) / 4)
        self.seed = seed
        self.jobs = max(1, jobs)
        self.verify = verify
    }
}

/// Where a whole-model run is, after a slice or a round.
public struct ModelTuneStatus: Sendable {
    /// Rounds finished in this process (the warm-up is round 1).
    public var round: Int
    /// Seconds and measurements spent by the run, earlier processes included.
    public var spent: ModelRunSpending
    /// The task just tuned.
    public var task: String
    /// Tasks, and how many have nothing left to try.
    public var tasks: Int
    /// Tasks whose spaces are exhausted.
    public var exhaustedTasks: Int
    /// The estimate when the run first started, and now.
    public var start: EstimateRecord
    /// The latest estimate.
    public var now: EstimateRecord
}

/// What a whole-model run did.
public struct ModelTuneSummary: Sendable {
    /// Why it ended.
    public enum Ending: String, Sendable {
        /// The measurement budget is spent.
        case budget = "the measurement budget is spent"
        /// The time budget is spent.
        case time = "the time budget is spent"
        /// Every task's space is exhausted.
        case exhausted = "every task's space is exhausted"
        /// Ctrl-C or a termination signal.
        case interrupted = "interrupted"
    }

    /// Why it ended.
    public var ending: Ending
    /// Slices run by this process.
    public var slices = 0
    /// Measurements made by this process.
    public var measurements = 0
    /// The run's key in the cache.
    public var run: String
    /// The estimate at the run's first start and at its end.
    public var start: EstimateRecord
    /// The estimate at the end.
    public var end: EstimateRecord
    /// The whole estimate at the end.
    public var estimate: ModelEstimate
}

/// Tunes every kernel of a model under one budget: tasks are the distinct (template, problem)
/// pairs of both phases weighted by their share of the scored time; a ``TaskScheduler`` gives each
/// slice to the task where the weighted total can shrink most; every measurement, every slice and
/// the model estimate after every round go to the cache, so a stopped run continues where it was
/// (the budget already spent counts) and two processes on one cache lease different tasks.
///
/// ```swift
/// let tuner = ModelTuner(backend: ModelBackend(), cache: cache)
/// let summary = try tuner.run(ModelTuneRequest(deployment: deployment, target: .trn2, spaces: spaces, budget: 500))
/// ```
public struct ModelTuner: Sendable {
    /// What compiles and measures variants.
    public let backend: any Backend
    /// Where every result goes.
    public let cache: TimingCache
    /// Where batches are evaluated when not on this host; nil: here.
    public let fleet: (any Fleet)?
    /// How long a task's lease lasts before another process may take it over (seconds).
    public var leaseSeconds = 3600.0

    /// A tuner of `backend` storing in `cache`, evaluating here or on `fleet`.
    public init(backend: any Backend, cache: TimingCache, fleet: (any Fleet)? = nil) {
        self.backend = backend
        self.cache = cache
        self.fleet = fleet
    }

    /// The run's key in the cache: the deployment, backend and toolchain.
    public func runKey(_ request: ModelTuneRequest) -> String { Self.runKey(request.deployment, backend: backend) }

    /// The key of a deployment's run on a backend.
    public static func runKey(_ deployment: Deployment, backend: any Backend) -> String {
        "\(deployment.key) backend=\(backend.name) toolchain=\(backend.toolchain)"
    }

    /// The estimate of the model from the cache as it is now.
    public func estimate(_ request: ModelTuneRequest) -> ModelEstimate {
        PhaseEstimator(target: request.target, spaces: request.spaces, cache: cache, backend: backend).model(
            request.deployment)
    }

    /// Runs until the budget or time is spent, every space is exhausted, or `shouldStop`.
    public func run(
        _ request: ModelTuneRequest, shouldStop: @escaping @Sendable () -> Bool = { false },
        onSlice: (ModelTuneStatus) -> Void = { _ in }, onRound: (ModelTuneStatus) -> Void = { _ in }
    ) throws(AutotuneError) -> ModelTuneSummary {
        let run = runKey(request)
        let tasks = request.deployment.tasks().filter { request.spaces[$0.template.id] != nil }
        var spent = try cache.spending(of: run)
        var history = try cache.estimates(of: run)
        var current = estimate(request)
        if history.isEmpty {
            let first = record(current.run, spent: spent)
            try cache.record(first, of: run)
            history = [first]
        }
        let start = history[0]
        var latest = history[history.count - 1]
        var summary = ModelTuneSummary(
            ending: .exhausted, run: run, start: start, end: latest, estimate: current)
        var scheduler = TaskScheduler(weights: tasks.map(\.weight), slice: request.slice, policy: request.policy)
        var searches = tasks.map { task -> any SearchStrategy in
            request.strategy.makeSearch(
                in: request.spaces[task.template.id]!, for: task.problem, budget: nil, seed: request.seed,
                target: request.target.applying(backend.calibration))
        }
        let driver = Driver(backend: backend, cache: cache, fleet: fleet)
        var lastSpend = ContinuousClock.now
        var slicesThisRound = 0
        var round = 0
        func ending() -> ModelTuneSummary.Ending? {
            if shouldStop() { return .interrupted }
            if let budget = request.budget, spent.measurements >= budget { return .budget }
            if let time = request.time, spent.seconds + (ContinuousClock.now - lastSpend).seconds >= time {
                return .time
            }
            return scheduler.isFinished ? .exhausted : nil
        }
        func status(_ task: String) -> ModelTuneStatus {
            ModelTuneStatus(
                round: round, spent: spent, task: task, tasks: tasks.count,
                exhaustedTasks: tasks.indices.filter { searches[$0].isExhausted }.count, start: start, now: latest)
        }
        while true {
            if let reason = ending() {
                summary.ending = reason
                break
            }
            guard let index = try leaseNext(scheduler.order(), tasks: tasks, run: run) else {
                // Every open task is leased by another process: wait for one to come free.
                Thread.sleep(forTimeInterval: 0.2)
                continue
            }
            let task = tasks[index]
            let tuneRequest = TuneRequest(
                space: request.spaces[task.template.id]!, problem: task.problem, target: request.target,
                strategy: request.strategy, seed: request.seed, jobs: request.jobs, verify: request.verify, run: run)
            var evaluations = scheduler.slices(index) == 0 ? request.warmUpSlice : request.slice
            if let budget = request.budget { evaluations = min(evaluations, max(0, budget - spent.measurements)) }
            let stopAtDeadline: @Sendable () -> Bool
            if let time = request.time {
                let deadline = ContinuousClock.now + .seconds(max(0, time - spent.seconds))
                stopAtDeadline = { shouldStop() || ContinuousClock.now >= deadline }
            } else {
                stopAtDeadline = shouldStop
            }
            var sliceSummary: TuneSummary
            do {
                defer { try? cache.release(task.name, of: run) }
                sliceSummary = try driver.advance(
                    &searches[index], tuneRequest, evaluations: evaluations, shouldStop: stopAtDeadline)
                try driver.check(tuneRequest, into: &sliceSummary, shouldStop: stopAtDeadline)
            }
            let measured = sliceSummary.evaluated.values.reduce(0, +)
            let now = ContinuousClock.now
            spent = try cache.spend(seconds: (now - lastSpend).seconds, on: run)
            lastSpend = now
            summary.slices += 1
            summary.measurements += measured
            let fastest = try driver.resolver(for: tuneRequest).fastest(limit: 8 * TaskScheduler.spacingSample)
            let best = fastest.first
            let floor = Self.floor(of: task, best: best?.measurement, target: request.target)
            let tried = try cache.configurations(in: driver.scope(for: tuneRequest)).count
            scheduler.record(
                index,
                fastest: fastest.compactMap {
                    $0.measurement.latency.map { max(0, $0 - request.target.launchOverhead) }
                },
                tried: tried, floor: floor, exhausted: searches[index].isExhausted)
            try cache.record(
                SliceRecord(
                    task: task.name, seconds: spent.seconds, measurements: spent.measurements,
                    best: best?.measurement.latency),
                of: run)
            slicesThisRound += 1
            onSlice(status(task.name))
            let warmUpDone =
                round > 0 || tasks.indices.allSatisfy { scheduler.slices($0) > 0 || searches[$0].isExhausted }
            if slicesThisRound >= tasks.count || (round == 0 && warmUpDone) || sliceSummary.interrupted {
                round += 1
                slicesThisRound = 0
                current = estimate(request)
                latest = record(current.run, spent: spent)
                try cache.record(latest, of: run)
                onRound(status(task.name))
            }
        }
        let now = ContinuousClock.now
        spent = try cache.spend(seconds: (now - lastSpend).seconds, on: run)
        current = estimate(request)
        latest = record(current.run, spent: spent)
        try cache.record(latest, of: run)
        summary.end = latest
        summary.estimate = current
        return summary
    }

    /// The first task in `order` this process can lease, or nil.
    private func leaseNext(_ order: [Int], tasks: [ModelTask], run: String) throws(AutotuneError) -> Int? {
        for index in order where try cache.lease(tasks[index].name, of: run, for: leaseSeconds) { return index }
        return nil
    }

    /// A task's floor inside a graph (ns): its multiply-accumulates at the TensorE peak, or the
    /// bytes its best variant moves at the peak DMA rate, whichever is larger.
    static func floor(of task: ModelTask, best: Measurement?, target: Target) -> Double {
        let compute = Double(task.template.macs(for: task.problem)) / target.peakMACsPerNs
        let bytes = best?.metrics["dma_bytes"].map { $0 / target.peakDMABytesPerNs } ?? 0
        return max(compute, bytes)
    }

    private func record(_ run: RunEstimate, spent: ModelRunSpending) -> EstimateRecord {
        EstimateRecord(
            seconds: spent.seconds, measurements: spent.measurements, prefill: run.prefill.total,
            decode: run.decode.total, scoredTime: run.scoredTime, score: run.totalScore,
            prompts: run.prompts.map {
                PromptFigures(
                    index: $0.prompt.index, timeToFirstToken: $0.timeToFirstToken, decodePerToken: $0.decodePerToken,
                    latency: $0.latency, score: $0.score)
            })
    }
}
