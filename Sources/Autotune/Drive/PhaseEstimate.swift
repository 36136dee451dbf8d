import CostModel
import KernelSpace
import MoEModel

/// The predicted time of one kernel call of the model, where a template exists for it.
public struct CallEstimate: Sendable {
    public var call: KernelCall
    /// Latency of one invocation (ns); nil when no template covers the kernel yet.
    public var latency: Double?
    /// `tuned` (best cached), `default`, or `first valid`; or why there is no estimate.
    public var source: String

    /// Latency of every invocation (ns).
    public var total: Double? { latency.map { $0 * Double(call.count) } }
}

/// Estimates a phase of the model from the kernels' best known configurations.
public struct PhaseEstimator: Sendable {
    public var target: Target
    public var spaces: [String: SearchSpace]
    public var cache: TimingCache?
    public var backend: any Backend

    public init(target: Target, spaces: [String: SearchSpace], cache: TimingCache?, backend: any Backend) {
        self.target = target
        self.spaces = spaces
        self.cache = cache
        self.backend = backend
    }

    /// One estimate per call of the inventory.
    public func estimate(_ calls: [KernelCall]) -> [CallEstimate] {
        calls.map(estimate)
    }

    private func estimate(_ call: KernelCall) -> CallEstimate {
        guard let space = spaces[call.kernel] else {
            return CallEstimate(call: call, latency: nil, source: "no template yet")
        }
        let template = space.template
        guard let problem = try? template.parseProblem(call.problem) else {
            return CallEstimate(call: call, latency: nil, source: "problem not accepted by the template")
        }
        let scope = CacheScope(
            kernel: template.id, problem: problem.key, target: target.name, backend: backend.name,
            toolchain: backend.toolchain)
        if let cache, let best = try? cache.best(in: scope, limit: 1).first, let latency = best.measurement.latency {
            return CallEstimate(call: call, latency: latency, source: "tuned")
        }
        let candidates: [(Configuration, String)] =
            [(space.defaultConfiguration, "default")]
            + Strategy.random.candidates(in: space, for: problem, budget: 64, seed: 1).map { ($0, "first valid") }
            + Strategy.exhaustive.candidates(in: space, for: problem, budget: 1, seed: 0).map { ($0, "first valid") }
        for (configuration, source) in candidates where space.exclusion(configuration, for: problem) == nil {
            let variant = Variant(template: template, problem: problem, configuration: configuration, target: target)
            guard case .success(let compiled) = backend.compile(variant) else { continue }
            let measurement = backend.measure(compiled, slot: 0)
            if measurement.status == .ok, let latency = measurement.latency {
                return CallEstimate(call: call, latency: latency, source: source)
            }
        }
        return CallEstimate(call: call, latency: nil, source: "no valid configuration found")
    }
}
