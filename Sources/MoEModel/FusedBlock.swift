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
    /// The fused blocks offered for a phase: the decode MoE block (post-attention residual and
    /// RMSNorm, router, experts, residual out) in place of its three kernels.
    ///
    /// ```swift
    /// let blocks = Deployment(model: .qwen3MoE30BA3B, target: "trn2").fusedBlocks(.decode)
    /// ```
    public func fusedBlocks(_ phase: Phase) -> [FusedBlock] {
        guard phase == .decode, batch <= 128 else { return [] }
        let numerics = model.numerics
        let problem = MoEBlockDecodeTemplate.problem(
            tokens: batch, hidden: model.hiddenSize, columns: expertColumns, experts: model.experts,
            k: model.expertsPerToken, cores: logicalCoreSize >= 2 ? .two : .one)
        return [
            FusedBlock(
                call: KernelCall(
                    role: "MoE block (fused)",
                    template: MoEBlockDecodeTemplate(
                        epsilon: numerics.rmsNormEpsilon, normaliseTopK: numerics.normaliseTopK),
                    problem: problem, count: model.layers),
                replaces: ["residual + post-attention RMSNorm", "router", "routed experts"])
        ]
    }
}
