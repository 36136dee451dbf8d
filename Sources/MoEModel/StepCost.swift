/// A part of a model step that is not one of our kernels (a collective, the embedding, sampling,
/// framework time), with where its figure comes from.
public struct StepCost: Sendable, Hashable {
    /// What it is.
    public var name: String
    /// Time per step (ns).
    public var nanoseconds: Double
    /// Where the figure comes from: a cited measurement or how it was derived.
    public var source: String

    /// Creates a value with every field given.
    public init(name: String, nanoseconds: Double, source: String) {
        self.name = name
        self.nanoseconds = nanoseconds
        self.source = source
    }
}

extension Deployment {
    /// One collective's fixed cost (ns): about 12 us per all-reduce in a public trn2 profile of the
    /// contest model (shared/reference/qwen3-moe.md).
    public static let collectiveLatency = 12_000.0

    /// Time outside the compiled graph per step (ns): about 1.26 ms in the same profile.
    public static let frameworkTimePerStep = 1_260_000.0

    /// The parts of one step of `phase` that are not our kernels, given the bytes per nanosecond
    /// one rank moves through HBM (its share of the chip's bandwidth).
    ///
    /// ```swift
    /// let costs = Deployment(model: .qwen3MoE30BA3B, target: "trn2").stepCosts(.decode, rankBandwidth: 725)
    /// ```
    public func stepCosts(_ phase: Phase, rankBandwidth: Double) -> [StepCost] {
        let tokens = phase == .prefill ? promptLength * batch : batch
        let activationBytes = Double(tokens * model.hiddenSize * 2)
        let ranks = Double(tensorParallel)
        var costs: [StepCost] = []
        if tensorParallel > 1 {
            let ring = 2 * (ranks - 1) / ranks * activationBytes / rankBandwidth
            costs.append(
                StepCost(
                    name: "tensor-parallel all-reduces (2 per layer)",
                    nanoseconds: Double(2 * model.layers) * (Self.collectiveLatency + ring),
                    source: String(
                        format: "12 us each (public trn2 profile) plus %.1f us moving %.0f KB through HBM as a ring",
                        ring / 1000, activationBytes / 1000)))
            let logits = Double(batch * vocabularySlice * 2)
            let gather = (ranks - 1) * logits / rankBandwidth
            costs.append(
                StepCost(
                    name: "all-gather of the logits", nanoseconds: Self.collectiveLatency + gather,
                    source: String(
                        format: "one collective (12 us) plus %.1f us for %.0f KB of logits per rank", gather / 1000,
                        logits / 1000)))
        }
        let embedding = activationBytes / rankBandwidth
        costs.append(
            StepCost(
                name: "embedding lookup", nanoseconds: 2_000 + embedding,
                source: String(
                    format: "derived: one DMA start (2 us) plus %.0f KB of rows at the rank's bandwidth",
                    activationBytes / 1000)))
        let logitBytes = Double(batch * model.vocabularySize * 4)
        costs.append(
            StepCost(
                name: "greedy sampling", nanoseconds: 2_000 + logitBytes / rankBandwidth,
                source: String(
                    format: "derived: one pass over %.0f KB of fp32 logits at the rank's bandwidth", logitBytes / 1000))
        )
        costs.append(
            StepCost(
                name: "framework time outside the graph", nanoseconds: Self.frameworkTimePerStep,
                source: "about 1.26 ms per step (public trn2 profile of the contest model)"))
        return costs
    }
}
