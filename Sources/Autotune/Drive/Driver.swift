import CostModel
import Foundation
import KernelSpace

/// What to tune.
public struct TuneRequest: Sendable {
    public var space: SearchSpace
    public var problem: Problem
    public var target: Target
    public var strategy: Strategy
    /// Most configurations to consider; nil for all the strategy offers.
    public var budget: Int?
    public var seed: UInt64
    /// Threads that compile and measure.
    public var jobs: Int
    /// How many of the fastest variants must pass the numeric check before the run ends.
    public var verify: Int

    public init(
        space: SearchSpace, problem: Problem, target: Target, strategy: Strategy = .random, budget: Int? = nil,
        seed: UInt64 = 1, jobs: Int = ProcessInfo.processInfo.activeProcessorCount, verify: Int = 3
    ) {
        self.space = space
        self.problem = problem
        self.target = target
        self.strategy = strategy
        self.budget = budget
        self.seed = seed
        self.jobs = max(1, jobs)
        self.verify = verify
    }
}

/// Where a run is, for progress displays.
public struct TuneProgress: Sendable {
    public var done: Int
    public var total: Int
    public var bestLatency: Double?
    public var elapsed: Double
}

/// What a run did.
public struct TuneSummary: Sendable {
    public var candidates: Int
    /// Candidates found in the cache and not evaluated again.
    public var cached: Int
    /// Candidates evaluated in this run, by outcome.
    public var evaluated: [VariantStatus: Int]
    /// Variants checked numerically in this run, and how many of those failed.
    public var checked: Int
    public var checkFailures: Int
    /// Seconds spent evaluating (compile and measure, all threads together in wall time).
    public var evaluationSeconds: Double
    public var interrupted: Bool
    public var best: [CachedMeasurement]

    /// New variants evaluated per wall-clock second.
    public var rate: Double {
        let total = evaluated.values.reduce(0, +)
        return evaluationSeconds > 0 ? Double(total) / evaluationSeconds : 0
    }
}

/// Evaluates variants in parallel on a backend, stores every result in the cache as it goes, and
/// checks the fastest numerically.
///
/// ```swift
/// let driver = Driver(backend: ModelBackend(), cache: try TimingCache(path: "cache/nkitune.sqlite"))
/// let summary = try driver.tune(request) { progress in print(progress.done) }
/// ```
public struct Driver: Sendable {
    public let backend: any Backend
    public let cache: TimingCache

    public init(backend: any Backend, cache: TimingCache) {
        self.backend = backend
        self.cache = cache
    }

    /// The cache scope of a request on this driver's backend.
    public func scope(for request: TuneRequest) -> CacheScope {
        CacheScope(
            kernel: request.space.template.id, problem: request.problem.key, target: request.target.name,
            backend: backend.name, toolchain: backend.toolchain)
    }

    /// Runs the search. `shouldStop` is polled between batches; results of finished batches are
    /// already in the cache when it returns true.
    public func tune(
        _ request: TuneRequest, shouldStop: @Sendable () -> Bool = { false },
        progress: (TuneProgress) -> Void = { _ in }
    ) throws(CacheError) -> TuneSummary {
        let scope = scope(for: request)
        let candidates = request.strategy.candidates(
            in: request.space, for: request.problem, budget: request.budget, seed: request.seed)
        let known = try cache.configurations(in: scope)
        let pending = candidates.filter { !known.contains($0.key) }
        var summary = TuneSummary(
            candidates: candidates.count, cached: candidates.count - pending.count, evaluated: [:], checked: 0,
            checkFailures: 0, evaluationSeconds: 0, interrupted: false, best: [])
        let start = ContinuousClock.now
        var best = try cache.best(in: scope, limit: 1).first?.measurement.latency
        let batchSize = max(64, request.jobs * 128)
        let slots = SlotPool(slots: min(backend.measureSlots, request.jobs))
        var done = 0
        progress(TuneProgress(done: 0, total: pending.count, bestLatency: best, elapsed: 0))
        while done < pending.count {
            if shouldStop() {
                summary.interrupted = true
                break
            }
            let batch = Array(pending[done..<min(done + batchSize, pending.count)])
            let results = evaluate(batch, request: request, slots: slots)
            let reference = request.space.exactReference ?? request.space.defaultConfiguration
            var exact: [String: Bool] = [:]
            for configuration in batch {
                exact[configuration.key] = request.space.numericDifference(configuration, reference) == nil
            }
            try cache.insert(
                zip(batch, results).map { ($0.key, $1) }, in: scope, reference: reference.key, bitExact: { exact[$0] })
            for result in results {
                summary.evaluated[result.status, default: 0] += 1
                if result.status == .ok, let latency = result.latency { best = min(best ?? latency, latency) }
            }
            done += batch.count
            progress(
                TuneProgress(
                    done: done, total: pending.count, bestLatency: best, elapsed: (ContinuousClock.now - start).seconds)
            )
        }
        summary.evaluationSeconds = (ContinuousClock.now - start).seconds
        if !summary.interrupted && !shouldStop() {
            try verifyFastest(request, scope: scope, summary: &summary)
        }
        summary.best = try cache.best(in: scope, limit: 10, exactTo: request.space.exactReference?.key)
        return summary
    }

    /// Compiles and measures a batch on `request.jobs` threads.
    private func evaluate(_ batch: [Configuration], request: TuneRequest, slots: SlotPool) -> [Measurement] {
        let results = ResultBuffer<Measurement>(count: batch.count)
        let workers = min(request.jobs, batch.count)
        let backend = self.backend
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var index = worker
            while index < batch.count {
                let variant = Variant(
                    template: request.space.template, problem: request.problem, configuration: batch[index],
                    target: request.target)
                switch backend.compile(variant) {
                case .failure(let early): results[index] = early.measurement
                case .success(let compiled): results[index] = slots.withSlot { backend.measure(compiled, slot: $0) }
                }
                index += workers
            }
        }
        return results.values.map { $0 ?? .failed("evaluation produced no result") }
    }

    /// Checks the fastest variants on the interpreter until `request.verify` of them pass.
    private func verifyFastest(_ request: TuneRequest, scope: CacheScope, summary: inout TuneSummary) throws(CacheError)
    {
        guard request.verify > 0 else { return }
        for _ in 0..<(request.verify * 10) {
            let top = try cache.best(in: scope, limit: request.verify)
            guard let next = top.first(where: { $0.check == nil }) else { return }
            guard let configuration = try? request.space.parse(next.configuration) else {
                try cache.recordCheck(
                    configuration: next.configuration, in: scope, passed: false, error: nil,
                    reason: "configuration is no longer in the search space")
                continue
            }
            let result = NumericCheck.run(
                request.space.template, problem: request.problem, configuration: configuration)
            summary.checked += 1
            if !result.passed { summary.checkFailures += 1 }
            try cache.recordCheck(
                configuration: next.configuration, in: scope, passed: result.passed,
                error: result.error.isFinite ? result.error : nil, reason: result.reason)
        }
    }
}
