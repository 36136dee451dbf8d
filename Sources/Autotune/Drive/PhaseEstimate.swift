import CostModel
import KernelSpace
import MoEModel

/// The predicted time of one kernel call of the model, where a template exists for it.
public struct CallEstimate: Sendable {
    /// The inventory call.
    public var call: KernelCall
    /// Latency of one invocation (ns); nil when no template covers the kernel yet.
    public var latency: Double?
    /// `tuned` (best cached), `default`, or `first valid`; or why there is no estimate.
    public var source: String

    /// Latency of every invocation (ns).
    public var total: Double? { latency.map { $0 * Double(call.count) } }

    /// One invocation inside a compiled graph, where kernels run back to back: the standalone
    /// latency without the target's launch overhead (ns).
    public func inGraph(_ target: Target) -> Double? { latency.map { max(0, $0 - target.launchOverhead) } }
}

/// A fused block beside the calls it would replace, in one step of its phase.
public struct FusedChoice: Sendable {
    /// The block and the roles it replaces.
    public var block: FusedBlock
    /// The fused kernel's estimate.
    public var fused: CallEstimate
    /// In-graph time of the block's calls over one step (ns), nil without an estimate.
    public var fusedTotal: Double?
    /// In-graph time of the calls it replaces over one step (ns), nil without an estimate.
    public var unfusedTotal: Double?
    /// Whether the step estimate uses the fused block (it is faster, and fusing was asked for).
    public var chosen: Bool
}

/// A whole-model estimate with the per-call estimates behind it.
public struct ModelEstimate: Sendable {
    /// The run: steps, costs that are not ours, and the contest's figures per prompt.
    public var run: RunEstimate
    /// The standalone estimates of each phase's calls, with the variant each came from.
    public var calls: [Phase: [CallEstimate]]
    /// Each phase's fused blocks beside the calls they would replace.
    public var fused: [Phase: [FusedChoice]] = [:]
}

/// Estimates a phase of the model from the kernels' best known configurations.
public struct PhaseEstimator: Sendable {
    /// The target chip.
    public var target: Target
    /// Search spaces by template id.
    public var spaces: [String: SearchSpace]
    /// Where tuned variants are looked up; nil when there is none.
    public var cache: TimingCache?
    /// The backend that timed it.
    public var backend: any Backend

    /// Creates a value with every field given.
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

    /// The whole model on a deployment: both phases' kernels back to back (no launch overhead
    /// per kernel) plus the costs that are not ours, and the contest's figures per prompt.
    ///
    /// The rank's HBM bandwidth for collectives is the target's peak DMA rate times the
    /// physical cores of a rank. The NKI ratio counts the roles the exported contest module calls
    /// as NKI (``ContestModule/wiredRoles``): attention and q/k norm + RoPE stay outside it.
    /// With `fusing`, a phase's step uses each fused block that is faster than the calls it
    /// replaces (the exported module does not wire fused blocks yet, so export estimates without).
    public func model(_ deployment: Deployment, fusing: Bool = false) -> ModelEstimate {
        model(deployment, fusing: fusing) { estimate([$0])[0] }
    }

    /// The whole model with each call's estimate given by `estimateCall` (an export reuses the
    /// latencies it has measured instead of measuring them again).
    public func model(
        _ deployment: Deployment, fusing: Bool = false, estimateCall: (KernelCall) -> CallEstimate
    ) -> ModelEstimate {
        let bandwidth = target.peakDMABytesPerNs * Double(max(1, deployment.logicalCoreSize))
        var calls: [Phase: [CallEstimate]] = [:]
        var steps: [Phase: StepEstimate] = [:]
        var fused: [Phase: [FusedChoice]] = [:]
        for phase in Phase.allCases {
            let estimates = deployment.inventory(phase).map(estimateCall)
            calls[phase] = estimates
            var step = estimates
            for block in deployment.fusedBlocks(phase) {
                let estimate = estimateCall(block.call)
                let replaced = estimates.filter { block.replaces.contains($0.call.role) }
                let unfused =
                    replaced.allSatisfy { $0.latency != nil }
                    ? replaced.reduce(0.0) { $0 + $1.inGraph(target)! * Double($1.call.count) } : nil
                let total = estimate.inGraph(target).map { $0 * Double(block.call.count) }
                let chosen = fusing && total != nil && unfused != nil && total! < unfused!
                if chosen, let first = step.firstIndex(where: { block.replaces.contains($0.call.role) }) {
                    step.removeAll { block.replaces.contains($0.call.role) }
                    step.insert(estimate, at: min(first, step.count))
                }
                fused[phase, default: []].append(
                    FusedChoice(block: block, fused: estimate, fusedTotal: total, unfusedTotal: unfused, chosen: chosen)
                )
            }
            steps[phase] = StepEstimate(
                kernels: step.map { KernelTime(call: $0.call, latency: $0.inGraph(target)) },
                costs: deployment.stepCosts(phase, rankBandwidth: bandwidth))
        }
        return ModelEstimate(
            run: RunEstimate(
                deployment: deployment, prefill: steps[.prefill]!, decode: steps[.decode]!,
                nkiRoles: ContestModule.wiredRoles),
            calls: calls, fused: fused)
    }

    private func estimate(_ call: KernelCall) -> CallEstimate {
        guard let space = spaces[call.kernel] else {
            return CallEstimate(call: call, latency: nil, source: "no template yet")
        }
        let problem = call.problem
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
