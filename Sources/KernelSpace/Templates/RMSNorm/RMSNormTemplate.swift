import Foundation

/// RMSNorm over the hidden size: `y = weight * bf16(s / sqrt(mean(s^2) + eps))` with `s = x` or,
/// with `residual=1`, `s = bf16(x + r)`, which the kernel also returns (Qwen3's decoder layer adds
/// the residual, then normalises). With `layout=tokens`, tokens sit on partitions, `tile_t` at a
/// time, and the weight is loaded once, broadcast to every partition. With `layout=hidden`, each
/// token's row is spread over the partitions (see ``NormLayout``), which suits a decode step's one
/// token: every instruction then touches H/128 elements per partition instead of H on one.
///
/// Numerics: the sum of squares is fp32; in element order with `layout=tokens` on either engine,
/// so `square` only moves work; `layout=hidden` sums each partition's run, then the partitions.
/// Rounding points follow Hugging Face's `Qwen3MoeRMSNorm` (eps 1e-6).
public struct RMSNormTemplate: KernelTemplate {
    /// The template for a model whose RMSNorm adds `epsilon`.
    public init(epsilon: Float) { self.epsilon = epsilon }

    /// The identifier on the command line and in cache keys.
    public let id = "rmsnorm"
    /// One line on what the kernel computes.
    public let summary = "RMSNorm over the hidden size, optionally adding the residual first (returns the sum too)"
    /// Added to the mean square (the model's `rms_norm_eps`).
    public let epsilon: Float

    /// `layout` changes the order of the sum of squares; the others only move data or change engines.
    public var numericParameters: Set<String> { [Self.layout.parameter.name] }

    static let tokens = SizeField("T")
    static let hidden = SizeField("H")
    static let residual = ChoiceField<Toggle>("residual", default: .off)

    static let layout = ChoiceKey<NormLayout>(
        "layout", [.tokens, .hidden], default: .tokens,
        "tokens on partitions, or each token's hidden values over the partitions (for few tokens)")
    static let tileT = IntKey("tile_t", [32, 64, 128], default: 128, "tokens per tile (partitions)")
    static let bufs = IntKey("bufs", [1, 2, 3], default: 2, "rotating copies of each token tile")
    static let square = ChoiceKey<Engine>(
        "square", [.scalar, .vector], default: .scalar,
        "sum of squares on ScalarE (activation_reduce) or VectorE (multiply, reduce)")
    static let scaleEngine = ChoiceKey<Engine>(
        "scale_engine", [.vector, .gpsimd], default: .vector, "engine that applies 1/rms")
    static let weightEngine = ChoiceKey<Engine>(
        "weight_engine", [.vector, .gpsimd], default: .vector, "engine that applies the weight")
    static let addEngine = ChoiceKey<Engine>(
        "add_engine", [.vector, .gpsimd], default: .vector, "engine of the residual add")
    static let split = CoreSharing.split([.tokens], "how the cores share the rows: none, or half the tokens each")

    /// The problem's dimensions and options, in order.
    public var problemFields: [ProblemField] {
        [Self.tokens.field, Self.hidden.field, Self.residual.field, CoreSharing.lnc.field]
    }

    /// The tunable parameters with their built-in domains and defaults.
    public var parameters: [Parameter] {
        [Self.layout.parameter] + [Self.tileT, Self.bufs].map(\.parameter)
            + [Self.square, Self.scaleEngine, Self.weightEngine, Self.addEngine].map(\.parameter)
            + [Self.split.parameter]
    }

    /// The problem, unpacked once.
    struct Shape {
        let tokens: Int
        let hidden: Int
        let residual: Bool

        init(_ problem: Problem) {
            tokens = problem[RMSNormTemplate.tokens]
            hidden = problem[RMSNormTemplate.hidden]
            residual = problem[RMSNormTemplate.residual] == .on
        }
    }

    /// The problem of `tokens` rows of `hidden` values, with or without the residual add, on a
    /// logical core of `cores`.
    public static func problem(tokens: Int, hidden: Int, residual: Bool, cores: LogicalCoreSize = .one) -> Problem {
        Problem(
            names: [Self.tokens, Self.hidden].map(\.field.name) + [
                Self.residual.field.name, CoreSharing.lnc.field.name,
            ],
            values: [
                .int(tokens), .int(hidden), .choice((residual ? Toggle.on : .off).rawValue), .choice(cores.rawValue),
            ])
    }

    /// Small problems the test suite checks this template on, including sizes that do not divide its tiles.
    public var checkProblems: [String] {
        ["T=40,H=96", "T=200,H=64,residual=1", "T=4,H=2048,residual=1", "T=40,H=96,residual=1,lnc=2"]
    }
    /// A problem to show this template on.
    public var demoProblem: String { "T=64,H=512,residual=1" }
    /// The buffer counts are the compiler's on hardware (see ``CompilerHint/bufferCopies``).
    public var compilerHints: [String: String] { [Self.bufs.parameter.name: CompilerHint.bufferCopies] }

    /// Multiply-accumulates of one call.
    public func macs(for problem: Problem) -> Int { 0 }

    /// Why a configuration is not a sensible variant of this problem, or nil if it is.
    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        let shape = Shape(problem)
        let oneTokenAtATime = configuration[Self.layout] == .hidden
        if oneTokenAtATime {
            if shape.hidden % 128 != 0 || shape.hidden / 128 > 64 {
                return
                    "layout=hidden spreads H over 128 partitions: H=\(shape.hidden) must be 128 to 8192 in steps of 128"
            }
        }
        if let reason = KernelIdioms.tokenTileRestriction(
            configuration[Self.tileT], tokens: shape.tokens, oneTokenAtATime: oneTokenAtATime ? "layout=hidden" : nil)
        {
            return reason
        }
        if !shape.residual && configuration[Self.addEngine] != .vector {
            return "add_engine has no effect without a residual"
        }
        let split = configuration[Self.split]
        return CoreSharing.restriction(split, problem, tokens: shape.tokens)
    }

    /// Random logical inputs, the operands as the reference takes them.
    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let shape = Shape(problem)
        let (tokens, hidden) = (shape.tokens, shape.hidden)
        var inputs = [HostTensor.random([tokens, hidden], dtype: .bf16, seed: seed)]
        if shape.residual { inputs.append(HostTensor.random([tokens, hidden], dtype: .bf16, seed: seed &+ 1)) }
        inputs.append(HostTensor.random([1, hidden], dtype: .bf16, seed: seed &+ 2))
        return inputs
    }

    /// What the kernel must compute, written plainly.
    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        let shape = Shape(problem)
        let (tokens, hidden, residual) = (shape.tokens, shape.hidden, shape.residual)
        let weight = inputs[inputs.count - 1].data
        var sums = inputs[0].data
        if residual { sums = zip(inputs[0].data, inputs[1].data).map { DType.roundToBF16($0 + $1) } }
        var outputs = [Float](repeating: 0, count: tokens * hidden)
        for row in 0..<tokens {
            var total: Float = 0
            for column in 0..<hidden { total += sums[row * hidden + column] * sums[row * hidden + column] }
            let scale = Foundation.pow(total / Float(hidden) + epsilon, -0.5)
            for column in 0..<hidden {
                let normalised = DType.roundToBF16(sums[row * hidden + column] * scale)
                outputs[row * hidden + column] = DType.roundToBF16(weight[column] * normalised)
            }
        }
        var result = [HostTensor(shape: [tokens, hidden], data: outputs)]
        if residual { result.append(HostTensor(shape: [tokens, hidden], data: sums)) }
        return result
    }

    /// A smaller problem with the same program structure, for numeric checks.
    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem {
        let extent = configuration[Self.layout] == .hidden ? 2 : configuration[Self.tileT]
        // Split, each core's half keeps the tile structure.
        let rows = CoreSharing.checkRows(problem[Self.tokens], extent: extent, split: configuration[Self.split])
        return problem.with(Self.tokens, rows)
    }
}
