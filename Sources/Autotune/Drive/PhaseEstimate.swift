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
        guard let problem = try? space.template.parseProblem(call.problem) else {
            return CallEstimate(call: call, latency: nil, source: "problem not accepted by the template")
        }
        let resolver = VariantResolver(space: space, problem: problem, target: target, cache: cache, backend: backend)
        guard let variant = try? resolver.resolve(nil, fallBackToDefault: true) else {
            return CallEstimate(call: call, latency: nil, source: "no valid configuration found")
        }
        if case .tuned(let latency) = variant.source {
            return CallEstimate(call: call, latency: latency, source: variant.source.label)
        }
        let measurement: Measurement
        switch backend.compile(
            Variant(template: space.template, problem: problem, configuration: variant.configuration, target: target))
        {
        case .success(let compiled): measurement = backend.measure(compiled, slot: 0)
        case .failure(let early): measurement = early.measurement
        }
        guard measurement.status == .ok, let latency = measurement.latency else {
            return CallEstimate(call: call, latency: nil, source: measurement.reason ?? "not measured")
        }
        return CallEstimate(call: call, latency: latency, source: variant.source.label)
    }
}
