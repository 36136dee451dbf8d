import KernelSpace

/// A phase of inference.
public enum Phase: String, Sendable, CaseIterable {
    /// The prompt's tokens at once (context encoding).
    case prefill
    /// One generated token (token generation).
    case decode
}

/// One kernel invocation of a forward pass: which template, on what problem, how many times.
public struct KernelCall: Sendable {
    /// What the call does in the model (`qkv projection`).
    public var role: String
    /// The template, built with the model's numbers.
    public var template: any KernelTemplate
    /// The problem, as the template declares its fields.
    public var problem: Problem
    /// Invocations per forward pass on one rank.
    public var count: Int

    /// The template's id.
    public var kernel: String { template.id }

    /// Multiply-accumulates of one invocation, as the template counts them.
    public var macsPerCall: Int { template.macs(for: problem) }

    /// Multiply-accumulates of all invocations.
    public var macs: Int { macsPerCall * count }
}

extension Deployment {
    /// Every kernel invocation of one forward pass on one rank, in model order.
    ///
    /// ```swift
    /// let calls = Deployment(model: .qwen3MoE30BA3B, target: "trn2").inventory(.decode)
    /// ```
    public func inventory(_ phase: Phase) -> [KernelCall] {
        let tokens = phase == .prefill ? promptLength * batch : batch
        let hidden = model.hiddenSize
        let layers = model.layers
        let headDim = model.headDim
        let numerics = model.numerics
        let rmsnorm = RMSNormTemplate(epsilon: numerics.rmsNormEpsilon)
        let cores: LogicalCoreSize = logicalCoreSize >= 2 ? .two : .one
        let attention: KernelCall
        switch phase {
        case .prefill:
            attention = KernelCall(
                role: "causal attention", template: AttentionPrefillTemplate(),
                problem: AttentionPrefillTemplate.problem(
                    positions: promptLength, heads: queryHeads, keyValueHeads: keyValueHeads, headDim: headDim,
                    cores: cores),
                count: layers * batch)
        case .decode:
            attention = KernelCall(
                role: "decode attention", template: AttentionDecodeTemplate(),
                problem: AttentionDecodeTemplate.problem(
                    positions: decodePosition, heads: queryHeads, keyValueHeads: keyValueHeads, headDim: headDim,
                    cores: cores),
                count: layers * batch)
        }
        let experts: KernelCall
        switch phase {
        case .prefill:
            experts = KernelCall(
                role: "routed experts", template: ExpertMLPPrefillTemplate(),
                problem: ExpertMLPPrefillTemplate.problem(
                    tokens: tokens, hidden: hidden, columns: expertColumns, experts: model.experts,
                    k: model.expertsPerToken, cores: cores),
                count: layers)
        case .decode:
            experts = KernelCall(
                role: "routed experts", template: ExpertMLPDecodeTemplate(),
                problem: ExpertMLPDecodeTemplate.problem(
                    tokens: tokens, hidden: hidden, columns: expertColumns, experts: model.experts,
                    k: model.expertsPerToken, cores: cores),
                count: layers)
        }
        let logitsTokens = batch
        let qkv = model.qkvProjection
        let output = model.outputProjection
        let head = model.languageModelHead
        return [
            KernelCall(
                role: "input RMSNorm", template: rmsnorm,
                problem: RMSNormTemplate.problem(tokens: tokens, hidden: hidden, residual: false, cores: cores),
                count: layers),
            KernelCall(
                role: "qkv projection", template: qkv,
                problem: qkv.problem(m: tokens, k: hidden, n: (queryHeads + 2 * keyValueHeads) * headDim, cores: cores),
                count: layers),
            KernelCall(
                role: "q/k norm + RoPE",
                template: QKNormRopeTemplate(epsilon: numerics.rmsNormEpsilon, ropeTheta: numerics.ropeTheta),
                problem: QKNormRopeTemplate.problem(
                    tokens: tokens, queryHeads: queryHeads, keyValueHeads: keyValueHeads, headDim: headDim,
                    position: phase == .prefill ? 0 : decodePosition, cores: cores),
                count: layers),
            attention,
            KernelCall(
                role: "output projection", template: output,
                problem: output.problem(m: tokens, k: queryHeads * headDim, n: hidden, cores: cores),
                count: layers),
            KernelCall(
                role: "residual + post-attention RMSNorm", template: rmsnorm,
                problem: RMSNormTemplate.problem(tokens: tokens, hidden: hidden, residual: true, cores: cores),
                count: layers),
            KernelCall(
                role: "router", template: RouterTemplate(normaliseTopK: numerics.normaliseTopK),
                problem: RouterTemplate.problem(
                    tokens: tokens, hidden: hidden, experts: model.experts, k: model.expertsPerToken, cores: cores),
                count: layers),
            experts,
            KernelCall(
                role: "final RMSNorm", template: rmsnorm,
                problem: RMSNormTemplate.problem(tokens: logitsTokens, hidden: hidden, residual: false, cores: cores),
                count: 1),
            KernelCall(
                role: "lm_head (last token)", template: head,
                problem: head.problem(m: logitsTokens, k: hidden, n: vocabularySlice, cores: cores), count: 1),
        ]
    }
}
