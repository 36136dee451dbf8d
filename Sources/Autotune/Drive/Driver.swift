import CostModel
import Foundation
import KernelSpace

/// Evaluates variants in parallel on a backend, stores every result in the cache as it goes, and
/// checks the fastest numerically.
///
/// The search proposes a batch at a time; results of a batch are stored before the next is asked
/// for, so an interrupted run loses at most the variants in flight, and a rerun evaluates only what
/// the cache does not hold. `shouldStop` is polled between variants, batches and checks.
///
/// ```swift
/// let driver = Driver(backend: ModelBackend(), cache: try TimingCache(path: "cache/nkitune.sqlite"))
/// let summary = try driver.tune(request) { progress in print(progress.done) }
/// ```
public struct Driver: Sendable {
    /// What compiles and measures variants.
    public let backend: any Backend
    /// Where every result goes.
    public let cache: TimingCache
    /// Where batches are evaluated when not on this host (Slurm job arrays); nil: here.
    public let fleet: (any Fleet)?

    /// A driver of `backend` storing in `cache`, evaluating here or on `fleet`.
    public init(backend: any Backend, cache: TimingCache, fleet: (any Fleet)? = nil) {
        self.backend = backend
        self.cache = cache
        self.fleet = fleet
    }

    /// The cache scope of a request on this driver's backend.
    public func scope(for request: TuneRequest) -> CacheScope {
        CacheScope(template: request.space.template, problem: request.problem, target: request.target, backend: backend)
    }

    /// Runs the search, then the numeric checks of the fastest variants (unless stopped).
    public func tune(
        _ request: TuneRequest, shouldStop: @escaping @Sendable () -> Bool = { false },
        progress: (TuneProgress) -> Void = { _ in }
    ) throws(AutotuneError) -> TuneSummary {
        var search = request.strategy.makeSearch(
            in: request.space, for: request.problem, budget: request.budget, seed: request.seed,
            target: request.target.applying(backend.calibration))
        var summary = try advance(&search, request, shouldStop: shouldStop, progress: progress)
        try check(request, into: &summary, shouldStop: shouldStop, progress: progress)
        summary.best = try resolver(for: request).fastest(limit: 10, exactTo: request.space.exactReference?.key)
        return summary
    }

    /// Advances a search until it has evaluated `evaluations` new variants (cached ones do not
    /// count), is exhausted, is stopped, or its time is up; every result is stored as it comes. The search keeps
    /// its state, so a caller such as the model's task scheduler can resume it for another slice.
    /// A search that has proposed nothing yet is first given its ``starts(for:)``.
    public func advance(
        _ search: inout any SearchStrategy, _ request: TuneRequest, evaluations: Int = .max,
        shouldStop: @escaping @Sendable () -> Bool = { false }, progress: (TuneProgress) -> Void = { _ in }
    ) throws(AutotuneError) -> TuneSummary {
        let scope = scope(for: request)
        var summary = TuneSummary()
        let start = ContinuousClock.now
        var best = try resolver(for: request).fastest(limit: 1).first?.measurement.latency
        if search.progress.done == 0 { search.start(from: try starts(for: request)) }
        let batchSize = max(64, request.jobs * 128)
        // The model's slots are threads (as many as `--jobs`); a hardware backend's are its cores.
        let slots = SlotPool(
            slots: backend.compileSlots == nil ? min(backend.measureSlots, request.jobs) : backend.measureSlots)
        var evaluated: Int { summary.evaluated.values.reduce(0, +) }
        let deadline = request.time.map { start + .milliseconds(Int64($0 * 1000)) }
        let timeUp: @Sendable () -> Bool = { deadline.map { ContinuousClock.now >= $0 } ?? false }
        func report() {
            progress(
                TuneProgress(
                    phase: .searching, done: search.progress.done, total: search.progress.total,
                    evaluated: evaluated, bestLatency: best, elapsed: (ContinuousClock.now - start).seconds))
        }
        report()
        while !search.isExhausted && evaluated < evaluations {
            if shouldStop() {
                summary.interrupted = true
                break
            }
            if timeUp() {
                summary.timeUp = true
                break
            }
            let size = search.preferredBatchSize.map { max($0, request.jobs) } ?? batchSize
            let proposals = search.propose(min(size, evaluations - evaluated))
            summary.candidates += proposals.count
            guard !proposals.isEmpty else {
                report()
                continue
            }
            let digests = programDigests(proposals, request: request)
            let stored = try cache.measurements(of: proposals.map(\.key), in: scope)
            // Measured anew: variants never stored, and those whose program changed since.
            let pending = proposals.filter { stored[$0.key]?.programDigest != digests[$0.key] }
            summary.cached += proposals.count - pending.count
            let finished =
                try fleet?.evaluate(pending, request: request, scope: scope, into: cache) { shouldStop() || timeUp() }
                ?? evaluate(pending, request: request, slots: slots) { shouldStop() || timeUp() }
            try store(finished, request: request, digests: digests, countingToward: request.run)
            for (_, measurement) in finished {
                summary.evaluated[measurement.status, default: 0] += 1
                if measurement.status == .invalid, let reason = measurement.reason { summary.invalid.exclude(reason) }
                if measurement.status == .ok, let latency = measurement.latency { best = min(best ?? latency, latency) }
            }
            search.observe(
                proposals.compactMap { configuration in
                    stored[configuration.key].flatMap {
                        $0.programDigest == digests[configuration.key] ? (configuration, $0.measurement) : nil
                    }
                } + finished)
            report()
            if slots.isEmpty {
                throw AutotuneError(
                    .backend,
                    "\(backend.name) backend: every measure slot failed its check after a failure; "
                        + "what was measured is in the cache, \(pending.count - finished.count) variants of the batch were not"
                )
            }
            if finished.count < pending.count {
                if shouldStop() { summary.interrupted = true } else { summary.timeUp = true }
                break
            }
        }
        summary.census = search.census
        summary.evaluationSeconds = (ContinuousClock.now - start).seconds
        return summary
    }

    /// Evaluates the configurations the cache does not hold (for their current program) on this
    /// host, storing results every few variants, and returns how many it evaluated: what a fleet
    /// worker does with its batch, so a task killed part-way loses only the variants in flight.
    public func measure(
        _ configurations: [Configuration], request: TuneRequest, shouldStop: @escaping @Sendable () -> Bool = { false }
    ) throws(AutotuneError) -> Int {
        let scope = scope(for: request)
        let slots = SlotPool(
            slots: backend.compileSlots == nil ? min(backend.measureSlots, request.jobs) : backend.measureSlots)
        let chunk = max(request.jobs, backend.measureSlots + (backend.compileSlots ?? 0))
        var evaluated = 0
        for start in stride(from: 0, to: configurations.count, by: chunk) where !shouldStop() {
            let part = Array(configurations[start..<min(start + chunk, configurations.count)])
            let digests = programDigests(part, request: request)
            let stored = try cache.measurements(of: part.map(\.key), in: scope)
            let pending = part.filter { stored[$0.key]?.programDigest != digests[$0.key] }
            let finished = evaluate(pending, request: request, slots: slots, shouldStop: shouldStop)
            try store(finished, request: request, digests: digests, countingToward: nil)
            evaluated += finished.count
            if slots.isEmpty {
                throw AutotuneError(
                    .backend, "\(backend.name) backend: every measure slot failed its check after a failure")
            }
        }
        return evaluated
    }

    /// Stores evaluated variants with their program digests and whether each is declared
    /// bit-identical to the space's reference.
    private func store(
        _ finished: [(configuration: Configuration, measurement: Measurement)], request: TuneRequest,
        digests: [String: String], countingToward run: String?
    ) throws(AutotuneError) {
        let reference = request.space.exactReference ?? request.space.defaultConfiguration
        let declared = Dictionary(
            finished.map {
                ($0.configuration.key, request.space.numericDifference($0.configuration, reference) == nil)
            },
            uniquingKeysWith: { first, _ in first })
        try cache.insert(
            finished.map { ($0.configuration.key, $0.measurement) }, in: scope(for: request), reference: reference.key,
            bitExact: { declared[$0] }, digest: { digests[$0] }, countingToward: run)
    }

    /// Checks the fastest variants of the request's scope on the interpreter (unless the summary
    /// says the run was interrupted), recording what the checks did in `summary`.
    public func check(
        _ request: TuneRequest, into summary: inout TuneSummary,
        shouldStop: @escaping @Sendable () -> Bool = { false }, progress: (TuneProgress) -> Void = { _ in }
    ) throws(AutotuneError) {
        guard !summary.interrupted else { return }
        let start = ContinuousClock.now
        let evaluated = summary.evaluated.values.reduce(0, +)
        let best = try resolver(for: request).fastest(limit: 1).first?.measurement.latency
        let verifier = Verifier(
            request: request, scope: scope(for: request), cache: cache, resolver: resolver(for: request),
            shouldStop: shouldStop)
        summary.verification = try verifier.run { done, total in
            progress(
                TuneProgress(
                    phase: .checking, done: done, total: total, evaluated: evaluated, bestLatency: best,
                    elapsed: (ContinuousClock.now - start).seconds))
        }
        summary.interrupted = summary.verification.interrupted
    }

    /// The resolver of a request's kernel on this driver's cache and backend.
    func resolver(for request: TuneRequest) -> VariantResolver {
        VariantResolver(
            space: request.space, problem: request.problem, target: request.target, cache: cache, backend: backend)
    }

    /// The program digest of every configuration, computed on `request.jobs` threads.
    private func programDigests(_ configurations: [Configuration], request: TuneRequest) -> [String: String] {
        let digests = ResultBuffer<String>(count: configurations.count)
        let workers = max(1, min(request.jobs, configurations.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in stride(from: worker, to: configurations.count, by: workers) {
                digests[index] =
                    request.space.template.program(for: request.problem, configuration: configurations[index]).digest
            }
        }
        return Dictionary(
            zip(configurations.map(\.key), digests.values.map { $0 ?? "" }), uniquingKeysWith: { first, _ in first })
    }

    /// Compiles and measures a batch: on `request.jobs` threads that each compile, then measure,
    /// or, for a backend with its own compile slots, on that many compiling threads plus one per
    /// measure slot, so a compiled variant goes to the next free slot while others compile.
    /// Variants not started when `shouldStop` turns true, and those left when every slot is
    /// retired, are left out of the result (and so out of the cache).
    private func evaluate(
        _ batch: [Configuration], request: TuneRequest, slots: SlotPool, shouldStop: @escaping @Sendable () -> Bool
    ) -> [(configuration: Configuration, measurement: Measurement)] {
        guard !batch.isEmpty else { return [] }
        let results = ResultBuffer<Measurement>(count: batch.count)
        let backend = self.backend
        let compiling = backend.compileSlots.map { DispatchSemaphore(value: max(1, $0)) }
        let threads = backend.compileSlots.map { max(1, $0) + backend.measureSlots } ?? request.jobs
        let next = IndexDispenser()
        onThreads(min(threads, batch.count)) { _ in
            while !shouldStop() && !slots.isEmpty, let index = next.take(below: batch.count) {
                let variant = Variant(
                    template: request.space.template, problem: request.problem, configuration: batch[index],
                    target: request.target)
                compiling?.wait()
                let compiled = backend.compile(variant)
                compiling?.signal()
                switch compiled {
                case .failure(let early): results[index] = early.measurement
                case .success(let compiled):
                    results[index] = slots.withUsableSlot(prepare: backend.prepare(slot:)) {
                        backend.measure(compiled, slot: $0)
                    }
                }
            }
        }
        return zip(batch, results.values).compactMap { configuration, measurement in
            measurement.map { (configuration, $0) }
        }
    }
}
