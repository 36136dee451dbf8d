/// One public prompt of the NKI MoE contest with its published baseline figures.
///
/// The scored latency is the p99 of 20 whole generations (up to the sequence length, prompt
/// included); throughput is tokens over the same time.
public struct ContestPrompt: Sendable, Hashable {
    /// The prompt's number in the contest's `prompt_data_<target>.csv`.
    public var index: Int
    /// Tokens of the prompt.
    public var promptTokens: Int
    /// The baseline's end-to-end latency (ms).
    public var baselineLatencyMilliseconds: Double
    /// The baseline's throughput (tokens per second).
    public var baselineThroughput: Double

    /// Creates a value with every field given.
    public init(index: Int, promptTokens: Int, baselineLatencyMilliseconds: Double, baselineThroughput: Double) {
        self.index = index
        self.promptTokens = promptTokens
        self.baselineLatencyMilliseconds = baselineLatencyMilliseconds
        self.baselineThroughput = baselineThroughput
    }

    /// The public prompts and baselines of a target (`trn2`, `trn3`), or nil where the contest
    /// published none (shared/reference/qwen3-moe.md, from the contest's prompt_data CSV files).
    public static func published(target: String) -> [ContestPrompt]? {
        let tokens = [18, 126, 43, 10, 402]
        let figures: [(Double, Double)]
        switch target {
        case "trn2":
            figures = [
                (12_498.00, 51.86), (9_432.19, 70.24), (12_089.08, 54.40), (12_868.67, 50.89), (3_041.92, 217.74),
            ]
        case "trn3":
            figures = [
                (17_138.28, 37.87), (12_427.41, 52.34), (16_208.29, 40.25), (17_177.15, 37.93), (3_871.62, 168.39),
            ]
        default: return nil
        }
        return zip(tokens, figures).enumerated().map { index, entry in
            ContestPrompt(
                index: index, promptTokens: entry.0, baselineLatencyMilliseconds: entry.1.0,
                baselineThroughput: entry.1.1)
        }
    }
}
