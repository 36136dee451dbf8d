/// How the model runs: target, tensor parallelism, and the shapes of one inference.
public struct Deployment: Hashable, Sendable {
    /// The model.
    public var model: ModelConfig
    /// `trn2` or `trn3` (or `trn1`).
    public var target: String
    /// Ranks the model is split over (4 in the contest's trn2 round).
    public var tensorParallel: Int
    /// Physical NeuronCores per logical core.
    public var logicalCoreSize: Int
    /// Sequences decoded together.
    public var batch: Int
    /// Prompt plus generated tokens.
    public var sequenceLength: Int
    /// Positions the prefill graph runs on: the prompt padded to the bucket (the sequence length)
    /// by default, or an exact prompt length.
    public var promptLength: Int
    /// Cached positions a decoded token attends to: the whole bucket (masked past the position)
    /// by default, or an exact position.
    public var decodePosition: Int

    /// The contest harness's deployment by default: tensor parallel 4 at LNC 2, batch 1, one bucket
    /// of 640 positions (prefill on the prompt padded to 640, every decode step over a 640-position
    /// cache). `promptLength` and `decodePosition` model other deployments exactly.
    public init(
        model: ModelConfig, target: String, tensorParallel: Int = 4, logicalCoreSize: Int = 2, batch: Int = 1,
        sequenceLength: Int = 640, promptLength: Int? = nil, decodePosition: Int? = nil
    ) {
        self.model = model
        self.target = target
        self.tensorParallel = tensorParallel
        self.logicalCoreSize = logicalCoreSize
        self.batch = batch
        self.sequenceLength = sequenceLength
        self.promptLength = promptLength ?? sequenceLength
        self.decodePosition = decodePosition ?? promptLength ?? sequenceLength
    }

    /// Whether prefill and decode run on the whole bucket, as the contest harness does.
    public var isBucketed: Bool { promptLength == sequenceLength && decodePosition == sequenceLength }

    /// Why the deployment cannot split the model, or nil.
    public var problem: String? {
        if tensorParallel <= 0 { return "tensor parallel degree \(tensorParallel) must be positive" }
        if model.attentionHeads % tensorParallel != 0 {
            return "tensor parallel degree \(tensorParallel) does not divide \(model.attentionHeads) attention heads"
        }
        if model.expertIntermediateSize % tensorParallel != 0 {
            return
                "tensor parallel degree \(tensorParallel) does not divide the expert size \(model.expertIntermediateSize)"
        }
        if promptLength <= 0 || promptLength > sequenceLength {
            return "prompt length \(promptLength) must be between 1 and the sequence length \(sequenceLength)"
        }
        if decodePosition <= 0 || decodePosition > sequenceLength {
            return "decode position \(decodePosition) must be between 1 and the sequence length \(sequenceLength)"
        }
        return nil
    }

    /// Query heads per rank.
    public var queryHeads: Int { model.attentionHeads / tensorParallel }
    /// Key/value heads per rank (replicated when there are fewer than ranks).
    public var keyValueHeads: Int { max(1, model.keyValueHeads / tensorParallel) }
    /// Expert intermediate columns per rank.
    public var expertColumns: Int { model.expertIntermediateSize / tensorParallel }
    /// Vocabulary entries per rank.
    public var vocabularySlice: Int { (model.vocabularySize + tensorParallel - 1) / tensorParallel }
}
