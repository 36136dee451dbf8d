import CostModel
import Foundation
import KernelSpace

/// What to tune.
public struct TuneRequest: Sendable {
    /// The template's space (possibly narrowed by a space file or pinned by `--exact`).
    public var space: SearchSpace
    /// The problem to tune for.
    public var problem: Problem
    /// The chip.
    public var target: Target
    /// How configurations are proposed.
    public var strategy: Strategy
    /// Most configurations to consider; nil for all the strategy offers.
    public var budget: Int?
    /// Seed of randomised strategies.
    public var seed: UInt64
    /// Threads that compile and measure.
    public var jobs: Int
    /// How many of the fastest variants must pass the numeric check before the run ends.
    public var verify: Int
    /// The whole-model run whose budget the measurements count toward, if any.
    public var run: String?
    /// Seconds the search may take (the checks of the fastest variants come after); nil for no limit.
    public var time: Double?

    /// A request; `jobs` is at least 1.
    public init(
        space: SearchSpace, problem: Problem, target: Target, strategy: Strategy = .random, budget: Int? = nil,
        seed: UInt64 = 1, jobs: Int = ProcessInfo.processInfo.activeProcessorCount, verify: Int = 3,
        run: String? = nil, time: Double? = nil
    ) {
        self.run = run
        self.time = time
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
    /// What the run is doing.
    public enum Phase: String, Sendable {
        /// Proposing and evaluating variants.
        case searching
        /// Checking the fastest variants on the interpreter.
        case checking
    }

    /// What the run is doing.
    public var phase: Phase
    /// Configurations considered (searching) or checks run (checking).
    public var done: Int
    /// Most configurations the search will consider, or checks it may run.
    public var total: Int
    /// Variants evaluated so far in this run.
    public var evaluated: Int
    /// Fastest latency known in the scope (ns).
    public var bestLatency: Double?
    /// Seconds since the run started.
    public var elapsed: Double
}

/// What a run did.
public struct TuneSummary: Sendable {
    /// Configurations the search proposed.
    public var candidates = 0
    /// Candidates found in the cache and not evaluated again.
    public var cached = 0
    /// Candidates evaluated in this run, by outcome.
    public var evaluated: [VariantStatus: Int] = [:]
    /// What the search considered and why it left configurations out.
    public var census = ExclusionCensus()
    /// Why evaluated variants were invalid (over hardware limits), counted like exclusions.
    public var invalid = ExclusionCensus()
    /// What the numeric checks did.
    public var verification = VerificationSummary()
    /// Seconds spent evaluating (compile and measure, all threads together in wall time).
    public var evaluationSeconds = 0.0
    /// Whether the run was stopped before it finished.
    public var interrupted = false
    /// The search stopped because its time (``TuneRequest/time``) ran out.
    public var timeUp = false
    /// The fastest variants of the scope after the run.
    public var best: [CachedMeasurement] = []

    /// New variants evaluated per wall-clock second.
    public var rate: Double {
        let total = evaluated.values.reduce(0, +)
        return evaluationSeconds > 0 ? Double(total) / evaluationSeconds : 0
    }
}
