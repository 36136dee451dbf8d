/// The architecture numbers of a Qwen3-MoE model, as in its Hugging Face `config.json`.
public struct ModelConfig: Hashable, Sendable {
    public var name: String
    public var hiddenSize: Int
    public var layers: Int
    public var attentionHeads: Int
    public var keyValueHeads: Int
    public var headDim: Int
    public var experts: Int
    public var expertsPerToken: Int
    public var expertIntermediateSize: Int
    public var vocabularySize: Int
    public var ropeTheta: Double
    public var rmsNormEpsilon: Double
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
