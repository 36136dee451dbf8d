/// The MoE router: `logits = x W` in fp32 (tokens on PSUM partitions), softmax over the experts,
/// the top `k` (at most 8, one `max8`), renormalised to sum to one. Returns the weights (fp32) and
/// the expert indices (int32), largest weight first.
///
/// `softmax=full` divides by the sum over all experts before choosing, as Hugging Face's
/// `Qwen3MoeSparseMoeBlock` does; `softmax=topk` chooses on the exponentials and divides once by
/// their top-k sum: mathematically the same weights, rounded differently (it changes numerics).
public struct RouterTemplate: KernelTemplate {
    /// The router of a model that renormalises its top-k weights (`norm_topk_prob`) or not.
    public init(normaliseTopK: Bool) { self.normaliseTopK = normaliseTopK }

    /// Whether the chosen weights are divided by their sum (the model's `norm_topk_prob`); when not,
    /// they are the softmax probabilities themselves.
    public let normaliseTopK: Bool

    /// The identifier on the command line and in cache keys.
    public let id = "router"
    /// One line on what the kernel computes.
    public let summary = "router logits (fp32), softmax, top-k (max8 / find_index8), renormalised weights"

    /// Normalising over all experts first rounds differently; so does the interleaved hidden order.
    public var numericParameters: Set<String> { [Self.softmax.parameter.name, Self.hiddenOrder.parameter.name] }

    static let tokens = SizeField("T")
    static let hidden = SizeField("H")
    static let experts = SizeField("E")
    static let topK = SizeField("k", default: 8)

    static let tileT = IntKey("tile_t", [32, 64, 128], default: 128, "tokens per tile (PSUM partitions)")
    static let bufs = IntKey("bufs", [1, 2, 3], default: 2, "rotating copies of each token tile")
    static let xLayout = ChoiceKey<OperandLayout>(
        "x_layout", [.tensorTranspose, .dmaTranspose], default: .tensorTranspose,
        "how x gets the hidden size onto partitions")
    static let hiddenOrder = ChoiceKey<HiddenOrder>(
        "hidden_order", [.tiles, .interleaved], default: .tiles,
        "contract over H in 128-row tiles (x transposed per tile) or interleaved (W in one DMA; x one DMA per row "
            + "with tile_t=32, else transposed by strided columns)")
    static let softmax = ChoiceKey<SoftmaxScope>(
        "softmax", [.full, .topk], default: .full,
        "normalise over all experts before top-k, or only the top-k (changes rounding)")
    static let normaliseEngine = ChoiceKey<Engine>(
        "normalise_engine", [.vector, .gpsimd], default: .vector, "engine of the divisions")
    static let split = CoreSharing.split([.tokens], "how the cores share the rows: none, or half the tokens each")

    /// The problem's dimensions and options, in order.
    public var problemFields: [ProblemField] {
        [Self.tokens, Self.hidden, Self.experts, Self.topK].map(\.field) + [CoreSharing.lnc.field]
    }

    /// The tunable parameters with their built-in domains and defaults.
    public var parameters: [Parameter] {
        [
            Self.tileT.parameter, Self.bufs.parameter, Self.hiddenOrder.parameter, Self.xLayout.parameter,
            Self.softmax.parameter,
            Self.normaliseEngine.parameter, Self.split.parameter,
        ]
    }

    /// The problem, unpacked once.
    struct Shape {
        let tokens: Int
        let hidden: Int
        let experts: Int
        let k: Int

        init(_ problem: Problem) {
            (tokens, hidden, experts, k) = (
                problem[RouterTemplate.tokens], problem[RouterTemplate.hidden], problem[RouterTemplate.experts],
                problem[RouterTemplate.topK]
            )
        }
    }

    /// The problem of routing `tokens` rows of `hidden` values over `experts`, choosing `k`.
    public static func problem(tokens: Int, hidden: Int, experts: Int, k: Int, cores: LogicalCoreSize = .one)
        -> Problem
    {
        Problem(
            names: [Self.tokens, Self.hidden, Self.experts, Self.topK].map(\.field.name) + [CoreSharing.lnc.field.name],
            values: [tokens, hidden, experts, k].map { .int($0) } + [.choice(cores.rawValue)])
    }

    /// Small problems the test suite checks this template on, including sizes that do not divide its tiles.
    public var checkProblems: [String] {
        ["T=40,H=200,E=64", "T=130,H=128,E=128,k=4", "T=3,H=512,E=64,k=4", "T=70,H=256,E=64,lnc=2"]
    }
    /// A problem to show this template on.
    public var demoProblem: String { "T=16,H=256,E=64" }
    /// The buffer counts are the compiler's on hardware (see ``CompilerHint/bufferCopies``).
    public var compilerHints: [String: String] { [Self.bufs.parameter.name: CompilerHint.bufferCopies] }

    /// Multiply-accumulates of one call.
    public func macs(for problem: Problem) -> Int {
        let shape = Shape(problem)
        return shape.tokens * shape.hidden * shape.experts
    }

    /// Why a configuration is not a sensible variant of this problem, or nil if it is.
    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        let shape = Shape(problem)
        if shape.k > 8 { return "k=\(shape.k) needs more than one max8 (k <= 8)" }
        if shape.experts < 8 { return "E=\(shape.experts) is fewer than the 8 values max8 returns" }
        if !normaliseTopK && configuration[Self.softmax] == .topk {
            return "softmax=topk divides by the top-k sum; this model keeps the softmax probabilities"
        }
        if configuration[Self.hiddenOrder] == .interleaved {
            if shape.hidden % 128 != 0 {
                return "hidden_order=interleaved needs H a multiple of 128 (H=\(shape.hidden))"
            }
            if configuration[Self.xLayout] != .tensorTranspose {
                return "hidden_order=interleaved transposes x on TensorE or not at all (x_layout=tensor_transpose)"
            }
        }
        let tile = configuration[Self.tileT]
        if let reason = KernelIdioms.redundantTile("tile_t", tile, covering: shape.tokens, dimension: "T", smallest: 32)
        {
            return reason
        }
        let split = configuration[Self.split]
        return CoreSharing.restriction(split, problem, tokens: shape.tokens)
    }

    /// Random logical inputs, the operands as the reference takes them.
    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let shape = Shape(problem)
        return [
            HostTensor.random([shape.tokens, shape.hidden], dtype: .bf16, seed: seed),
            HostTensor.random([shape.hidden, shape.experts], dtype: .bf16, seed: seed &+ 1),
        ]
    }

    /// What the kernel must compute, written plainly.
    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        let shape = Shape(problem)
        let (tokens, hidden, experts, k) = (shape.tokens, shape.hidden, shape.experts, shape.k)
        var weights: [Float] = []
        var indices: [Float] = []
        for row in 0..<tokens {
            var logits = [Double](repeating: 0, count: experts)
            for inner in 0..<hidden {
                let a = Double(inputs[0].data[row * hidden + inner])
                for expert in 0..<experts { logits[expert] += a * Double(inputs[1].data[inner * experts + expert]) }
            }
            let largest = logits.max() ?? 0
            let exponentials = logits.map { exp($0 - largest) }
            let total = exponentials.reduce(0, +)
            let order = exponentials.indices.sorted { exponentials[$0] > exponentials[$1] }.prefix(k)
            let chosen = order.map { exponentials[$0] / total }
            let sum = normaliseTopK ? chosen.reduce(0, +) : 1
            weights += chosen.map { Float($0 / sum) }
            indices += order.map { Float($0) }
        }
        return [HostTensor(shape: [tokens, k], data: weights), HostTensor(shape: [tokens, k], data: indices)]
    }

    /// A smaller problem with the same program structure, for numeric checks.
    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem {
        // Split, each core's half keeps the tile structure.
        let rows = CoreSharing.checkRows(
            problem[Self.tokens], extent: configuration[Self.tileT], split: configuration[Self.split])
        return problem.with(Self.tokens, rows)
    }
}

#if canImport(Glibc)
    import Glibc
#else
    import Darwin
#endif
