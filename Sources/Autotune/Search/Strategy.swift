import CostModel
import KernelSpace

/// The search strategies the command line offers, by name.
public enum Strategy: String, Sendable, CaseIterable {
    /// The default: `guided`, which covers the whole valid space when the budget allows (an
    /// exhaustive sweep, best-predicted first) and measures the most promising part when not.
    case auto
    /// Every configuration that passes the restrictions, in space order.
    case exhaustive
    /// A seeded uniform sample of the space.
    case random
    /// Simulated annealing on log latency.
    case anneal
    /// A genetic search.
    case genetic
    /// Bayesian optimisation with a tree-structured Parzen estimator.
    case bayes
    /// The performance model ranks the space; measurements correct it as they come.
    case guided

    /// A fresh search of `space` for `problem`: the default configuration first, then the
    /// strategy's order; at most `budget` proposals. The same arguments give the same proposals.
    /// `guide` predicts latency for `guided` (default: the performance model of `target`).
    public func makeSearch(
        in space: SearchSpace, for problem: Problem, budget: Int?, seed: UInt64, target: Target = .trn2,
        guide: LatencyGuide? = nil
    ) -> any SearchStrategy {
        switch self {
        case .auto:
            // Guided order: when the budget covers the valid space this measures all of it, as an
            // exhaustive sweep would, but the most promising first, so a stopped run has the best.
            return Strategy.guided.makeSearch(
                in: space, for: problem, budget: budget, seed: seed, target: target, guide: guide)
        case .exhaustive: return IndexedSearch(space: space, problem: problem, budget: budget, order: .spaceOrder)
        case .random:
            return IndexedSearch(space: space, problem: problem, budget: budget, order: .sample(seed: seed))
        case .anneal: return AnnealingSearch(space: space, problem: problem, budget: budget, seed: seed)
        case .genetic: return GeneticSearch(space: space, problem: problem, budget: budget, seed: seed)
        case .bayes: return ParzenSearch(space: space, problem: problem, budget: budget, seed: seed)
        case .guided:
            return GuidedSearch(
                space: space, problem: problem, budget: budget, seed: seed,
                guide: guide ?? .performanceModel(space.template, problem, target))
        }
    }

    /// Every configuration the search would propose, in order (for small spaces and tests).
    public func candidates(in space: SearchSpace, for problem: Problem, budget: Int?, seed: UInt64) -> [Configuration] {
        var search = makeSearch(in: space, for: problem, budget: budget, seed: seed)
        var chosen: [Configuration] = []
        while !search.isExhausted { chosen += search.propose(1024) }
        return chosen
    }
}
