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
    /// Tokens of the prompt (the prefill phase).
    public var promptLength: Int
    /// Cached positions the decoded token attends to.
    public var decodePosition: Int

    /// The contest's deployment: batch 1, sequence 640, tensor parallel 4 on trn2.
    public init(
        model: ModelConfig, target: String, tensorParallel: Int = 4, logicalCoreSize: Int = 2, batch: Int = 1,
        sequenceLength: Int = 640, promptLength: Int = 128, decodePosition: Int? = nil
    ) {
        self.model = model
        self.target = target
        self.tensorParallel = tensorParallel
        self.logicalCoreSize = logicalCoreSize
        self.batch = batch
        self.sequenceLength = sequenceLength
        self.promptLength = promptLength
        self.decodePosition = decodePosition ?? promptLength
    }

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
        if decodePosition <= 0 || decodePosition >= sequenceLength {
            return "decode position \(decodePosition) must be between 1 and \(sequenceLength - 1)"
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
