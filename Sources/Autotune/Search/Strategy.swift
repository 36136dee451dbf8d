import KernelSpace

/// The search strategies the command line offers, by name.
public enum Strategy: String, Sendable, CaseIterable {
    /// Every configuration that passes the restrictions, in space order.
    case exhaustive
    /// A seeded uniform sample of the space.
    case random

    /// A fresh search of `space` for `problem`: the default configuration first, then the
    /// strategy's order; at most `budget` proposals. The same arguments give the same proposals.
    public func makeSearch(in space: SearchSpace, for problem: Problem, budget: Int?, seed: UInt64)
        -> any SearchStrategy
    {
        switch self {
        case .exhaustive: IndexedSearch(space: space, problem: problem, budget: budget, order: .spaceOrder)
        case .random: IndexedSearch(space: space, problem: problem, budget: budget, order: .sample(seed: seed))
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
