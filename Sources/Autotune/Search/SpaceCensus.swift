import CostModel
import Foundation
import KernelSpace

/// How a space divides for one problem on one target.
public struct SpaceCensus: Sendable, Equatable {
    /// Configurations in the space.
    public var total: Int
    /// Left out by the template's restrictions (redundant or meaningless for the problem).
    public var restricted: Int
    /// Break a hardware limit of the target.
    public var overLimits: Int
    /// Everything else: variants the tuner can time.
    public var valid: Int

    /// Counts every configuration of `space`, on `jobs` threads.
    public static func take(_ space: SearchSpace, problem: Problem, target: Target, jobs: Int) -> SpaceCensus {
        let total = space.size
        let workers = max(1, jobs)
        let counts = ResultBuffer<(Int, Int)>(count: workers)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var restricted = 0
            var overLimits = 0
            var index = worker
            while index < total {
                let configuration = space.configuration(at: index)
                if space.exclusion(configuration, for: problem) != nil {
                    restricted += 1
                } else if ResourceCheck.violation(
                    of: space.template.program(for: problem, configuration: configuration), limits: target.limits)
                    != nil
                {
                    overLimits += 1
                }
                index += workers
            }
            counts[worker] = (restricted, overLimits)
        }
        let restricted = counts.values.reduce(0) { $0 + ($1?.0 ?? 0) }
        let overLimits = counts.values.reduce(0) { $0 + ($1?.1 ?? 0) }
        return SpaceCensus(
            total: total, restricted: restricted, overLimits: overLimits, valid: total - restricted - overLimits)
    }
}
