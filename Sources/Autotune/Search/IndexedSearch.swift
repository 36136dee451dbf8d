import KernelSpace

/// A search that walks the space's mixed-radix indices in a fixed order (space order, or a seeded
/// sample without replacement), proposing each configuration that passes the restrictions. It does
/// not learn: ``observe(_:)`` ignores results.
struct IndexedSearch: SearchStrategy {
    enum Order {
        case spaceOrder
        /// Draws from a seeded SplitMix64 (``SpaceDraws``), up to 256 draws per budgeted
        /// configuration and at least 2^18, so a small budget still finds the valid part of a sparse
        /// space and a space where nothing is valid ends in seconds; a space no larger than the
        /// budget is walked in order.
        case sample(seed: UInt64)
    }

    /// Configurations looked at per ``propose(_:)`` call at most, so a call returns quickly.
    static let workPerCall = 20_000

    private let space: SearchSpace
    private let problem: Problem
    private let limit: Int
    private let defaultConfiguration: Configuration
    private var proposedDefault = false
    private var sample: SpaceDraws?
    private var drawnOut = false
    private let draws: Int
    private var position = 0
    private(set) var census = ExclusionCensus()

    init(space: SearchSpace, problem: Problem, budget: Int?, order: Order) {
        self.space = space
        self.problem = problem
        limit = budget ?? Int.max
        defaultConfiguration = space.defaultConfiguration
        let size = space.size
        switch order {
        case .spaceOrder:
            draws = size
        case .sample(let seed):
            let wanted = limit.multipliedReportingOverflow(by: 256)
            draws = wanted.overflow ? size : min(size, max(wanted.partialValue, 1 << 18))
            // Sampled unless the budget covers the whole space (then order cannot matter); with no
            // budget, the whole space in a seeded random order.
            if budget == nil || limit < size { sample = SpaceDraws(space: space, problem: problem, seed: seed) }
        }
    }

    var isExhausted: Bool { census.proposed >= limit || (proposedDefault && (drawnOut || position >= draws)) }

    var progress: (done: Int, total: Int) {
        limit < draws ? (census.proposed, limit) : (census.considered, draws)
    }

    mutating func propose(_ count: Int) -> [Configuration] {
        var chosen: [Configuration] = []
        if !proposedDefault {
            proposedDefault = true
            consider(defaultConfiguration, into: &chosen)
        }
        var work = 0
        while chosen.count < count && census.proposed < limit && position < draws && work < Self.workPerCall {
            guard let index = nextIndex() else {
                drawnOut = true
                break
            }
            let configuration = space.configuration(at: index)
            position += 1
            work += 1
            if configuration != defaultConfiguration { consider(configuration, into: &chosen) }
        }
        return chosen
    }

    mutating func observe(_ results: [(configuration: Configuration, measurement: Measurement)]) {}

    private mutating func consider(_ configuration: Configuration, into chosen: inout [Configuration]) {
        guard census.proposed < limit else { return }
        if let reason = space.exclusion(configuration, for: problem) {
            census.exclude(reason)
            return
        }
        census.considered += 1
        census.proposed += 1
        chosen.append(configuration)
    }

    /// The next index: in order, or the next distinct seeded draw (nil once the draws are out).
    private mutating func nextIndex() -> Int? {
        guard sample != nil else { return position }
        return sample?.next()
    }
}
