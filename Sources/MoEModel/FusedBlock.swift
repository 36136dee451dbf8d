import KernelSpace

/// A fused kernel that can stand in for several calls of a phase: the estimate takes it where it
/// is faster than the calls it replaces.
public struct FusedBlock: Sendable {
    /// The fused kernel's call.
    public var call: KernelCall
    /// The roles of the phase's calls it replaces, in model order.
    public var replaces: [String]
}

extension Deployment {
    /// The fused blocks offered for a phase: for decode, the attention block (input RMSNorm, q/k/v
    /// projection, q/k norm and RoPE, KV cache write, attention, output projection; one token per
    /// call) in place of its five kernels, and the MoE block (post-attention residual and RMSNorm,
    /// router, experts; the residual sum and the experts' sum out) in place of its three.
    ///
    /// ```swift
    /// let blocks = Deployment(model: .qwen3MoE30BA3B, target: "trn2").fusedBlocks(.decode)
    /// ```
    public func fusedBlocks(_ phase: Phase) -> [FusedBlock] {
        guard phase == .decode else { return [] }
        let numerics = model.numerics
        let cores: LogicalCoreSize = logicalCoreSize >= 2 ? .two : .one
        let attention = AttentionBlockDecodeTemplate.problem(
            hidden: model.hiddenSize, positions: decodePosition, heads: queryHeads, keyValueHeads: keyValueHeads,
            headDim: model.headDim, cores: cores)
        var blocks = [
            FusedBlock(
                call: KernelCall(
                    role: "attention block (fused)",
                    template: AttentionBlockDecodeTemplate(
                        epsilon: numerics.rmsNormEpsilon, ropeTheta: numerics.ropeTheta),
                    problem: attention, count: model.layers * batch),
                replaces: [
                    "input RMSNorm", "qkv projection", "q/k norm + RoPE", "decode attention", "output projection",
                ])
        ]
        // The MoE block's experts hold the batch's tokens on partitions.
        if batch <= 128 {
            let problem = MoEBlockDecodeTemplate.problem(
                tokens: batch, hidden: model.hiddenSize, columns: expertColumns, experts: model.experts,
                k: model.expertsPerToken, cores: cores)
            blocks.append(
                FusedBlock(
                    call: KernelCall(
                        role: "MoE block (fused)",
                        template: MoEBlockDecodeTemplate(
                            epsilon: numerics.rmsNormEpsilon, normaliseTopK: numerics.normaliseTopK),
                        problem: problem, count: model.layers),
                    replaces: ["residual + post-attention RMSNorm", "router", "routed experts"]))
        }
        return blocks
    }
}
