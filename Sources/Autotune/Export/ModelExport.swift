import CostModel
import Foundation
import KernelSpace
import MoEModel

/// Everything an export writes, gathered once: the chosen variant of every task, the model
/// estimate now and over the run, and how it was measured.
public struct ModelExport: Sendable {
    /// The deployment.
    public var deployment: Deployment
    /// The chip.
    public var target: Target
    /// The backend whose timings chose the variants.
    public var backend: String
    /// What produced the timings.
    public var toolchain: String
    /// One per task, heaviest first.
    public var kernels: [ExportedKernel]
    /// The model estimate with the exported variants.
    public var estimate: ModelEstimate
    /// The estimate with every kernel untuned (an empty cache).
    public var untunedEstimate: ModelEstimate
    /// The run's stored estimates, oldest first (empty when `tune-model` never ran).
    public var history: [EstimateRecord]
    /// The run's slices, oldest first.
    public var slices: [SliceRecord]
    /// When the export was made (ISO 8601).
    public var date: String
    /// The Neuron SDK release the kernels are written for.
    public var release: NKIRelease = .default

    /// The kernel serving `role` (`decode: routed experts`), if any.
    public func kernel(serving role: String) -> ExportedKernel? {
        kernels.first { $0.task.roles.contains(role) }
    }
}

/// Gathers a ``ModelExport`` from the cache: per task the variant ``VariantResolver`` chooses
/// (the fastest current tuned one, else the default or first valid).
public struct ModelExporter: Sendable {
    /// The backend whose timings count.
    public var backend: any Backend
    /// Where tuned variants are looked up; nil exports untuned defaults.
    public var cache: TimingCache?

    /// Creates a value with every field given.
    public init(backend: any Backend, cache: TimingCache?) {
        self.backend = backend
        self.cache = cache
    }

    /// The export of a deployment's tasks with these spaces.
    public func gather(
        _ deployment: Deployment, target: Target, spaces: [String: SearchSpace], run: String?
    ) throws -> ModelExport {
        var kernels: [ExportedKernel] = []
        for task in deployment.tasks() {
            guard let space = spaces[task.template.id] else { continue }
            let tuned = try VariantResolver(
                space: space, problem: task.problem, target: target, cache: cache, backend: backend
            ).resolve(nil, fallBackToDefault: true)
            let untuned = try VariantResolver(
                space: space, problem: task.problem, target: target, cache: nil, backend: backend
            ).resolve(nil, fallBackToDefault: true)
            let function = ExportedKernel.functionName(task)
            var program = tuned.program
            program.name = function
            var measurement: Measurement?
            var entry: CachedMeasurement?
            if case .tuned = tuned.source {
                entry = try cache?.measurements(
                    of: [tuned.configuration.key],
                    in: CacheScope(template: task.template, problem: task.problem, target: target, backend: backend)
                )[tuned.configuration.key]
                measurement = entry?.measurement
            } else {
                measurement = measure(task, tuned.configuration, target: target)
            }
            kernels.append(
                ExportedKernel(
                    task: task, function: function, configuration: tuned.configuration, program: program,
                    source: tuned.source.label, latency: measurement?.latency,
                    untunedLatency: measure(task, untuned.configuration, target: target)?.latency,
                    busy: measurement?.busy ?? [:], check: entry?.check, measuredAt: entry?.measuredAt))
        }
        // The estimates reuse the latencies measured above, tuned and untuned.
        let byTask = Dictionary(kernels.map { ($0.task.name, $0) }, uniquingKeysWith: { first, _ in first })
        let estimator = PhaseEstimator(target: target, spaces: spaces, cache: cache, backend: backend)
        func estimate(_ untuned: Bool) -> ModelEstimate {
            estimator.model(deployment) { call in
                guard let kernel = byTask["\(call.kernel) \(call.problem.key)"] else {
                    return CallEstimate(call: call, latency: nil, source: "no template yet")
                }
                return untuned
                    ? CallEstimate(call: call, latency: kernel.untunedLatency, source: "untuned")
                    : CallEstimate(call: call, latency: kernel.latency, source: kernel.source)
            }
        }
        return ModelExport(
            deployment: deployment, target: target, backend: backend.name, toolchain: backend.toolchain,
            kernels: kernels, estimate: estimate(false), untunedEstimate: estimate(true),
            history: try run.map { try cache?.estimates(of: $0) ?? [] } ?? [],
            slices: try run.map { try cache?.slices(of: $0) ?? [] } ?? [],
            date: ISO8601DateFormatter().string(from: Date()))
    }

    private func measure(_ task: ModelTask, _ configuration: Configuration, target: Target) -> Measurement? {
        let variant = Variant(
            template: task.template, problem: task.problem, configuration: configuration, target: target)
        switch backend.compile(variant) {
        case .success(let compiled): return backend.measure(compiled, slot: 0)
        case .failure: return nil
        }
    }
}

extension ModelExport {
    /// The accuracy gate with the exported decode variants (see ``AccuracyGate``).
    public func checkAccuracy(layers: Int, steps: Int) throws -> AccuracyGate.Outcome {
        let chosen = Dictionary(kernels.map { ($0.task.name, $0) }, uniquingKeysWith: { first, _ in first })
        return try AccuracyGate(deployment: deployment, layers: layers, steps: steps).run { call in
            let name = "\(call.kernel) \(call.problem.key)"
            guard let kernel = chosen[name] else { return (call.template, call.template.defaultConfiguration) }
            return (kernel.task.template, kernel.configuration)
        }
    }
}

extension AccuracyGate.Outcome {
    /// One line: each rule's worst value against its limit, and the verdict.
    public var summary: String {
        let rules = rules.map { rule in
            String(
                format: "%@ %.4f (limit %.3f, margin %.4f)", rule.name, rule.worst, rule.limit, rule.margin)
        }
        return "\(passed ? "passed" : "FAILED") over \(steps) greedy steps: " + rules.joined(separator: "; ")
    }
}
