/// The architecture numbers of a Qwen3-MoE model, as in its Hugging Face `config.json`.
public struct ModelConfig: Hashable, Sendable {
    /// The model's name (`qwen3-30b-a3b`, or the config file's path).
    public var name: String
    /// Hidden size (`hidden_size`).
    public var hiddenSize: Int
    /// Decoder layers (`num_hidden_layers`).
    public var layers: Int
    /// Query heads (`num_attention_heads`).
    public var attentionHeads: Int
    /// Key/value heads (`num_key_value_heads`).
    public var keyValueHeads: Int
    /// Size of one attention head (`head_dim`).
    public var headDim: Int
    /// Routed experts (`num_experts`).
    public var experts: Int
    /// Experts each token is routed to (`num_experts_per_tok`).
    public var expertsPerToken: Int
    /// Each expert's intermediate size (`moe_intermediate_size`).
    public var expertIntermediateSize: Int
    /// Vocabulary entries (`vocab_size`).
    public var vocabularySize: Int
    /// The rotary embedding's base (`rope_theta`).
    public var ropeTheta: Double
    /// RMSNorm's epsilon (`rms_norm_eps`).
    public var rmsNormEpsilon: Double
    /// Whether the top-k routing weights are renormalised (`norm_topk_prob`).
    public var normaliseTopKProbabilities: Bool

    /// Qwen/Qwen3-30B-A3B.
    public static let qwen3MoE30BA3B = ModelConfig(
        name: "qwen3-30b-a3b", hiddenSize: 2048, layers: 48, attentionHeads: 32, keyValueHeads: 4, headDim: 128,
        experts: 128, expertsPerToken: 8, expertIntermediateSize: 768, vocabularySize: 151_936, ropeTheta: 1_000_000,
        rmsNormEpsilon: 1e-6, normaliseTopKProbabilities: true)

    /// The built-in models by name.
    public static let builtIn: [String: ModelConfig] = [qwen3MoE30BA3B.name: qwen3MoE30BA3B]

    /// Multiply-accumulates of one decoder layer's matrix products for one token, attention over
    /// `cachedPositions` positions included.
    public func layerMACsPerToken(cachedPositions: Int) -> Int {
        let qkv = hiddenSize * (attentionHeads + 2 * keyValueHeads) * headDim
        let output = attentionHeads * headDim * hiddenSize
        let router = hiddenSize * experts
        let experts = expertsPerToken * 3 * hiddenSize * expertIntermediateSize
        let attention = 2 * attentionHeads * headDim * cachedPositions
        return qkv + output + router + experts + attention
    }

    /// Multiply-accumulates of the language-model head for one token.
    public var lmHeadMACsPerToken: Int { hiddenSize * vocabularySize }
}
