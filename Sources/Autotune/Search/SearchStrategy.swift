import KernelSpace

/// A search over one template's space: proposes the next batch of configurations to evaluate and
/// observes their results (MetaSchedule's generate-candidates / notify-results split), so a strategy
/// can learn from what was measured.
///
/// Every proposed configuration passes the space's restrictions for the problem; hardware limits
/// are the backend's to judge. Proposals are made lazily, a slice of work per call, so a search over
/// a huge space shows progress and can be stopped between calls.
///
/// ```swift
/// var search = Strategy.random.makeSearch(in: space, for: problem, budget: 100, seed: 1)
/// while !search.isExhausted {
///     let batch = search.propose(64)
///     search.observe(batch.map { ($0, measure($0)) })
/// }
/// ```
public protocol SearchStrategy {
    /// Up to `count` configurations not proposed before. It may return fewer (even none) after a
    /// bounded amount of work; ``isExhausted`` says when nothing more will come.
    mutating func propose(_ count: Int) -> [Configuration]
    /// Results of proposed configurations (from the backend or the cache).
    mutating func observe(_ results: [(configuration: Configuration, measurement: Measurement)])
    /// Whether the search has nothing more to propose (its budget is spent or its space is done).
    var isExhausted: Bool { get }
    /// What the search has looked at and left out so far.
    var census: ExclusionCensus { get }
    /// How far the search is, for progress displays: proposals against the budget when there is
    /// one, else configurations considered against the space.
    var progress: (done: Int, total: Int) { get }
    /// How many proposals the search wants between observations (a learning search learns more
    /// from small batches); nil leaves the batch size to the driver.
    var preferredBatchSize: Int? { get }
    /// Configurations the caller expects to be good (a fused block's stages at their own tuned
    /// best): a search that ranks by a model starts from them; the others leave them.
    mutating func start(from configurations: [Configuration])
}

extension SearchStrategy {
    /// No preference: the driver's batch size.
    public var preferredBatchSize: Int? { nil }

    /// Nothing to start from: the search draws its own.
    public mutating func start(from configurations: [Configuration]) {}
}

/// How many configurations a search has considered and why it left some out.
public struct ExclusionCensus: Sendable, Equatable {
    /// Configurations looked at.
    public var considered = 0
    /// Configurations proposed (those passing every restriction).
    public var proposed = 0
    /// Left-out configurations per reason: the restriction's text or the template's reason.
    public var reasons: [String: Int] = [:]

    /// Creates an empty census.
    public init() {}

    /// Configurations left out.
    public var excluded: Int { considered - proposed }

    /// The `limit` most frequent reasons, most frequent first (ties by text).
    public func commonReasons(_ limit: Int) -> [(reason: String, count: Int)] {
        reasons.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.prefix(limit)
            .map { (reason: $0.key, count: $0.value) }
    }

    /// Counts a configuration left out. Past 1,000 distinct reasons, new ones are counted together.
    mutating func exclude(_ reason: String) {
        considered += 1
        let key = reasons[reason] != nil || reasons.count < 1000 ? reason : "other reasons"
        reasons[key, default: 0] += 1
    }
}
