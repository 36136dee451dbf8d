/// A phase of inference.
public enum Phase: String, Sendable, CaseIterable {
    /// The prompt's tokens at once (context encoding).
    case prefill
    /// One generated token (token generation).
    case decode
}

/// One kernel invocation of a forward pass: which template, on what problem, how many times.
public struct KernelCall: Hashable, Sendable {
    /// What the call does in the model (`qkv projection`).
    public var role: String
    /// Template id.
    public var kernel: String
    /// Problem text for the template (`M=128,K=2048,N=1280`).
    public var problem: String
    /// Invocations per forward pass on one rank.
    public var count: Int
    /// Multiply-accumulates of one invocation.
    public var macsPerCall: Int

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
        let qkvColumns = (queryHeads + 2 * keyValueHeads) * headDim
        let attentionColumns = queryHeads * headDim
        let routed = tokens * model.expertsPerToken
        let attention: KernelCall
        switch phase {
        case .prefill:
            let pairs = promptLength * (promptLength + 1) / 2
            attention = KernelCall(
                role: "causal attention", kernel: "attention-prefill",
                problem: "S=\(promptLength),heads=\(queryHeads),kv_heads=\(keyValueHeads),d=\(headDim)",
                count: layers * batch,
                macsPerCall: 2 * queryHeads * pairs * headDim)
        case .decode:
            attention = KernelCall(
                role: "decode attention", kernel: "attention-decode",
                problem: "S=\(decodePosition),heads=\(queryHeads),kv_heads=\(keyValueHeads),d=\(headDim)",
                count: layers * batch, macsPerCall: 2 * queryHeads * decodePosition * headDim)
        }
        let experts: KernelCall
        switch phase {
        case .prefill:
            experts = KernelCall(
                role: "routed experts", kernel: "expert-mlp-prefill",
                problem: "T=\(tokens),H=\(hidden),I=\(expertColumns),E=\(model.experts),k=\(model.expertsPerToken)",
                count: layers, macsPerCall: routed * 3 * hidden * expertColumns)
        case .decode:
            experts = KernelCall(
                role: "routed experts", kernel: "expert-mlp-decode",
                problem: "T=\(tokens),H=\(hidden),I=\(expertColumns),E=\(model.experts),k=\(model.expertsPerToken)",
                count: layers, macsPerCall: routed * 3 * hidden * expertColumns)
        }
        let logitsTokens = batch
        return [
            KernelCall(
                role: "input RMSNorm", kernel: "rmsnorm", problem: "T=\(tokens),H=\(hidden)", count: layers,
                macsPerCall: 0),
            KernelCall(
                role: "qkv projection", kernel: "qkv", problem: "M=\(tokens),K=\(hidden),N=\(qkvColumns),norm=0",
                count: layers,
                macsPerCall: tokens * hidden * qkvColumns),
            KernelCall(
                role: "q/k norm + RoPE", kernel: "qk-norm-rope",
                problem:
                    "T=\(tokens),q_heads=\(queryHeads),kv_heads=\(keyValueHeads),d=\(headDim),pos=\(phase == .prefill ? 0 : decodePosition)",
                count: layers, macsPerCall: 0),
            attention,
            KernelCall(
                role: "output projection", kernel: "o-proj", problem: "M=\(tokens),K=\(attentionColumns),N=\(hidden)",
                count: layers, macsPerCall: tokens * attentionColumns * hidden),
            KernelCall(
                role: "residual + post-attention RMSNorm", kernel: "rmsnorm",
                problem: "T=\(tokens),H=\(hidden),residual=1",
                count: layers, macsPerCall: 0),
            KernelCall(
                role: "router", kernel: "router",
                problem: "T=\(tokens),H=\(hidden),E=\(model.experts),k=\(model.expertsPerToken)", count: layers,
                macsPerCall: tokens * hidden * model.experts),
            experts,
            KernelCall(
                role: "final RMSNorm", kernel: "rmsnorm", problem: "T=\(logitsTokens),H=\(hidden)", count: 1,
                macsPerCall: 0),
            KernelCall(
                role: "lm_head (last token)", kernel: "lm-head",
                problem: "M=\(logitsTokens),K=\(hidden),N=\(vocabularySlice)",
                count: 1, macsPerCall: logitsTokens * hidden * vocabularySlice),
        ]
    }
}
