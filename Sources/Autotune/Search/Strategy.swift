import KernelSpace

/// How the tuner picks configurations to evaluate.
public enum Strategy: String, Sendable, CaseIterable {
    /// Every configuration that passes the template's restrictions, in space order.
    case exhaustive
    /// A seeded uniform sample of the space.
    case random

    /// The configurations to evaluate, default configuration first, each passing the template's and
    /// the space's restrictions for `problem`; at most `budget` of them. The same arguments give the same list.
    public func candidates(in space: SearchSpace, for problem: Problem, budget: Int?, seed: UInt64) -> [Configuration] {
        let limit = budget ?? Int.max
        var chosen: [Configuration] = []
        var seen = Set<Configuration>()
        func consider(_ configuration: Configuration) {
            guard chosen.count < limit, space.exclusion(configuration, for: problem) == nil,
                seen.insert(configuration).inserted
            else { return }
            chosen.append(configuration)
        }
        consider(space.defaultConfiguration)
        switch self {
        case .exhaustive:
            var index = 0
            while chosen.count < limit && index < space.size {
                consider(space.configuration(at: index))
                index += 1
            }
        case .random:
            // Draw in rounds so restricted-out draws are replaced, up to a bounded number of draws.
            let size = space.size
            let maximumDraws = min(
                size, limit == Int.max ? size : limit.multipliedReportingOverflow(by: 64).partialValue)
            for index in space.sampleIndices(count: maximumDraws, seed: seed) where chosen.count < limit {
                consider(space.configuration(at: index))
            }
        }
        return chosen
    }
}
