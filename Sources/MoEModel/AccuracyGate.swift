import Foundation
import KernelSpace

/// The contest's accuracy check, before hardware: the chosen decode variants chained through
/// several decoder layers on the interpreter, then the final norm and the lm_head, for a few greedy
/// steps, against a plain fp32 reference of the same model, judged with the harness's tolerance
/// map and divergence rule.
///
/// The model is synthetic at one rank's real widths (the decode problems of the deployment,
/// exactly as exported: H, heads, the 640-position cache, all experts, the vocabulary slice),
/// with seeded random weights; the experts' weights are shared by the layers to bound memory. A
/// kernel set that is exact alone but drifts in a chain fails here as it would in the harness.
///
/// ```swift
/// let gate = AccuracyGate(deployment: Deployment(model: .qwen3MoE30BA3B, target: "trn2"))
/// let outcome = try gate.run { call in (call.template, call.template.defaultConfiguration) }
/// ```
public struct AccuracyGate: Sendable {
    /// One rule of the tolerance map, or the divergence rule, with the worst value seen.
    public struct Rule: Sendable, Equatable {
        /// `top-5`, `all`, or `divergence`.
        public var name: String
        /// The worst error over the steps.
        public var worst: Double
        /// The limit.
        public var limit: Double
        /// Room left under the limit (negative when it failed).
        public var margin: Double { limit - worst }
        /// Whether it held.
        public var passed: Bool { worst <= limit }
    }

    /// What the gate found.
    public struct Outcome: Sendable {
        /// Every rule with its worst value.
        public var rules: [Rule]
        /// Greedy steps run.
        public var steps: Int
        /// Steps whose greedy token differed from the reference's.
        public var divergedSteps: Int
        /// Whether every rule held.
        public var passed: Bool { rules.allSatisfy(\.passed) }
    }

    /// The harness's tolerance map: top-k (nil: all logits) to (atol, rtol).
    public static let toleranceMap: [(topK: Int?, atol: Double, rtol: Double)] = [
        (nil, 1e-5, 0.05), (1000, 1e-5, 0.03), (50, 1e-5, 0.03), (5, 1e-5, 0.03),
    ]
    /// How close two logits must be when the greedy tokens differ.
    public static let divergenceTolerance = 0.001

    /// The deployment whose decode problems are chained.
    public var deployment: Deployment
    /// Decoder layers chained.
    public var layers: Int
    /// Greedy steps.
    public var steps: Int
    /// Seed of the synthetic weights.
    public var seed: UInt64

    /// A gate of `layers` layers and `steps` greedy steps.
    public init(deployment: Deployment, layers: Int = 2, steps: Int = 3, seed: UInt64 = 7) {
        self.deployment = deployment
        self.layers = layers
        self.steps = steps
        self.seed = seed
    }

    /// Runs the gate with the kernel (template and configuration) `variant` chooses per call.
    public func run(
        _ variant: (KernelCall) -> (template: any KernelTemplate, configuration: Configuration)
    ) throws(KernelSpaceError) -> Outcome {
        let calls = deployment.inventory(.decode)
        func call(_ role: String) -> KernelCall { calls.first { $0.role == role }! }
        let model = SyntheticModel(deployment: deployment, layers: layers, seed: seed)
        var kernelCaches = model.caches
        var referenceCaches = model.caches
        var worst = [Double](repeating: -.infinity, count: Self.toleranceMap.count)
        var divergence = 0.0
        var diverged = 0
        var token = 1
        for step in 0..<steps {
            let position = deployment.decodePosition - steps + step
            let embedding = model.embedding(token)
            var x = embedding
            var reference = embedding.data
            for layer in 0..<layers {
                x = try kernelLayer(
                    x, layer: layer, position: position, model: model, caches: &kernelCaches[layer], call: call,
                    variant: variant)
                reference = model.referenceLayer(
                    reference, layer: layer, position: position, caches: &referenceCaches[layer])
            }
            let head = call("lm_head (last token)")
            let final = call("final RMSNorm")
            let normed = try Self.run(final, variant, [x, model.finalNorm])[0]
            let logits = try Self.run(head, variant, [normed, model.head])[0].data.map(Double.init)
            let expected = model.referenceLogits(reference)
            for (index, rule) in Self.toleranceMap.enumerated() {
                worst[index] = max(worst[index], Self.error(logits, expected, rule))
            }
            let chosen = logits.indices.max { logits[$0] < logits[$1] }!
            let wanted = expected.indices.max { expected[$0] < expected[$1] }!
            if chosen != wanted {
                diverged += 1
                divergence = max(divergence, abs(expected[wanted] - expected[chosen]))
            }
            token = wanted
        }
        var rules = zip(Self.toleranceMap, worst).map { rule, value in
            Rule(name: rule.topK.map { "top-\($0)" } ?? "all", worst: value, limit: rule.rtol)
        }
        rules.append(Rule(name: "divergence", worst: divergence, limit: Self.divergenceTolerance))
        return Outcome(rules: rules, steps: steps, divergedSteps: diverged)
    }

    /// The harness's error for one rule: over the expected top-k logits, the largest
    /// `(|actual - expected| - atol)` relative to the largest expected magnitude.
    static func error(_ actual: [Double], _ expected: [Double], _ rule: (topK: Int?, atol: Double, rtol: Double))
        -> Double
    {
        let indices =
            rule.topK.map { k in Array(expected.indices.sorted { expected[$0] > expected[$1] }.prefix(k)) }
            ?? Array(expected.indices)
        let scale = max(indices.map { abs(expected[$0]) }.max() ?? 1, 1e-30)
        return indices.map { (abs(actual[$0] - expected[$0]) - rule.atol) / scale }.max() ?? 0
    }

    static func run(
        _ call: KernelCall, _ variant: (KernelCall) -> (template: any KernelTemplate, configuration: Configuration),
        _ inputs: [HostTensor]
    ) throws(KernelSpaceError) -> [HostTensor] {
        let (template, configuration) = variant(call)
        return try Interpreter.run(
            template.program(for: call.problem, configuration: configuration),
            inputs: template.arguments(inputs, problem: call.problem, configuration: configuration))
    }

    private func kernelLayer(
        _ x: HostTensor, layer: Int, position: Int, model: SyntheticModel, caches: inout SyntheticModel.Cache,
        call: (String) -> KernelCall,
        variant: (KernelCall) -> (template: any KernelTemplate, configuration: Configuration)
    ) throws(KernelSpaceError) -> HostTensor {
        let weights = model.layers[layer]
        let (qSize, kvSize, d) = (model.queryHeads * model.headDim, model.kvHeads * model.headDim, model.headDim)
        let normed = try Self.run(call("input RMSNorm"), variant, [x, weights.inputNorm])[0]
        let qkv = try Self.run(call("qkv projection"), variant, [normed, weights.qkv])[0].data
        let (cos, sin) = model.rope(position, rounded: true)
        let rotated = try Self.run(
            call("q/k norm + RoPE"), variant,
            [
                HostTensor(shape: [1, qSize], data: Array(qkv[0..<qSize])),
                HostTensor(shape: [1, kvSize], data: Array(qkv[qSize..<(qSize + kvSize)])),
                weights.qNorm, weights.kNorm, cos, sin,
            ])
        caches.store(
            key: rotated[1].data, value: Array(qkv[(qSize + kvSize)..<(qSize + 2 * kvSize)]), at: position,
            headDim: d)
        let attention = try Self.run(
            call("decode attention"), variant,
            [HostTensor(shape: [model.queryHeads, d], data: rotated[0].data), caches.keys, caches.values])[0]
        let projected = try Self.run(
            call("output projection"), variant, [HostTensor(shape: [1, qSize], data: attention.data), weights.output]
        )[0]
        let post = try Self.run(call("residual + post-attention RMSNorm"), variant, [projected, x, weights.postNorm])
        let routing = try Self.run(call("router"), variant, [post[0], weights.router])
        let experts = try Self.run(
            call("routed experts"), variant, [post[0], model.gateUp, model.down, routing[1], routing[0]])[0]
        return HostTensor(shape: x.shape, data: zip(post[1].data, experts.data).map { DType.roundToBF16($0 + $1) })
    }
}
