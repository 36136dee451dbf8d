/// Physical NeuronCores of the logical core a kernel runs on: the deployment's LNC, a problem
/// option (`lnc=2`) because it decides which variants exist.
public enum LogicalCoreSize: String, ParameterChoice {
    /// One core per logical core (LNC 1).
    case one = "1"
    /// Two cores per logical core (LNC 2, trn2 and trn3).
    case two = "2"

    /// Physical cores.
    public var cores: Int { self == .two ? 2 : 1 }
}

/// How the cores of a logical core share a kernel's work.
public enum CoreSplit: String, ParameterChoice {
    /// One core does everything; the other idles.
    case none
    /// Each core computes its half of the output columns (AWS's `hidden_dim_tp`-style split).
    case columns
    /// Each core runs its half of the attention heads.
    case heads
    /// Each core runs its half of the selected experts; partial sums meet in HBM.
    case experts
    /// Each core projects gate and up for its half of the selected experts; the activations meet
    /// in HBM, and each core then runs every expert's down projection for its half of the hidden
    /// columns, so no partial sums are added.
    case expertsHidden = "experts_hidden"
    /// Each core runs its half of the expert blocks (nki-library's `shard_on_block`); partial sums
    /// meet in HBM.
    case blocks
    /// Each core runs its half of the token rows, which need nothing of each other.
    case tokens
}

/// The problem option and parameter shared by every template whose work can be split over the two
/// cores of a logical core.
public enum CoreSharing {
    /// The `lnc` problem option (default 1, where every split is fixed to none).
    public static let lnc = ChoiceField<LogicalCoreSize>("lnc", default: .one)

    /// The `split` parameter offering `splits` besides `none`.
    public static func split(_ splits: [CoreSplit], _ summary: String) -> ChoiceKey<CoreSplit> {
        ChoiceKey("split", [.none] + splits, default: .none, summary)
    }

    /// Cores of the problem's logical core (1 for a problem without the option).
    public static func cores(_ problem: Problem) -> Int { problem.has(lnc) ? problem[lnc].cores : 1 }

    /// Why `split` is not a variant of `problem`: a split needs two cores. (On two cores `none`
    /// stays a variant: the tuner measures what the idle core costs.)
    public static func restriction(_ split: CoreSplit, _ problem: Problem) -> String? {
        split != .none && cores(problem) < 2 ? "split=\(split.rawValue) needs lnc=2 (two cores per logical core)" : nil
    }

    /// Why `split` is not a variant of a problem of `tokens` rows: a split needs two cores, and
    /// `split=tokens` halves the rows, so they must be even.
    public static func restriction(_ split: CoreSplit, _ problem: Problem, tokens: Int) -> String? {
        if let reason = restriction(split, problem) { return reason }
        return split == .tokens && tokens % 2 != 0 ? "split=tokens halves the rows: T=\(tokens) is odd" : nil
    }

    /// Rows of a numeric check with `checkSize(_:extent:)`'s structure on each core: with
    /// `split=tokens`, each core's half is reduced and the check takes two of them.
    static func checkRows(_ tokens: Int, extent: Int, split: CoreSplit) -> Int {
        let cores = split == .tokens ? 2 : 1
        return cores * KernelIdioms.checkSize(tokens / cores, extent: extent)
    }

    /// The program of `problem` with its `tokens` rows halved over two cores: `build` makes one
    /// core's program for half the rows, and each of its HBM tensors is sliced along its first
    /// dimension, the rows, except those named in `shared` (weights every core reads whole).
    ///
    /// ```swift
    /// let both = CoreSharing.splittingRows(problem, tokens: RMSNormTemplate.tokens, shared: ["weight"]) {
    ///     program(for: $0)
    /// }
    /// ```
    static func splittingRows(
        _ problem: Problem, tokens: SizeField, shared: Set<String>, build: (Problem) -> KernelProgram
    ) -> KernelProgram {
        let half = build(problem.with(tokens, problem[tokens] / 2))
        let rows = half.buffers.filter { $0.memory == .hbm && !shared.contains($0.name) }
        return half.spread(over: 2, slicing: Dictionary(uniqueKeysWithValues: rows.map { ($0.id, 0) }))
    }
}
