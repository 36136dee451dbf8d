import Foundation

/// RMSNorm over the hidden size: `y = weight * bf16(s / sqrt(mean(s^2) + eps))` with `s = x` or,
/// with `residual=1`, `s = bf16(x + r)`, which the kernel also returns (Qwen3's decoder layer adds
/// the residual, then normalises). Tokens sit on partitions, `tile_t` at a time; the weight is
/// loaded once, broadcast to every partition.
///
/// Numerics: the sum of squares is fp32 in element order on either engine, so `square` only moves
/// work; rounding points follow Hugging Face's `Qwen3MoeRMSNorm` (eps 1e-6).
public struct RMSNormTemplate: KernelTemplate {
    public init() {}

    public let id = "rmsnorm"
    public let summary = "RMSNorm over the hidden size, optionally adding the residual first (returns the sum too)"
    /// Qwen3's `rms_norm_eps`.
    public static let epsilon: Float = 1e-6

    /// Every parameter only moves data or changes engines.
    public let numericParameters: Set<String> = []

    static let tokens = SizeField("T")
    static let hidden = SizeField("H")
    static let residual = ChoiceField<Toggle>("residual", default: .off)

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

    public var problemFields: [ProblemField] { [Self.tokens.field, Self.hidden.field, Self.residual.field] }

    public var parameters: [Parameter] {
        [Self.tileT, Self.bufs].map(\.parameter)
            + [Self.square, Self.scaleEngine, Self.weightEngine, Self.addEngine].map(\.parameter)
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

    public var checkProblems: [String] { ["T=40,H=96", "T=200,H=64,residual=1"] }
    public var demoProblem: String { "T=64,H=512,residual=1" }

    public func macs(for problem: Problem) -> Int { 0 }

    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        let shape = Shape(problem)
        let tile = configuration[Self.tileT]
        if let reason = KernelIdioms.redundantTile("tile_t", tile, covering: shape.tokens, dimension: "T", smallest: 32)
        {
            return reason
        }
        if !shape.residual && configuration[Self.addEngine] != .vector {
            return "add_engine has no effect without a residual"
        }
        return nil
    }

    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let shape = Shape(problem)
        let (tokens, hidden) = (shape.tokens, shape.hidden)
        var inputs = [HostTensor.random([tokens, hidden], dtype: .bf16, seed: seed)]
        if shape.residual { inputs.append(HostTensor.random([tokens, hidden], dtype: .bf16, seed: seed &+ 1)) }
        inputs.append(HostTensor.random([1, hidden], dtype: .bf16, seed: seed &+ 2))
        return inputs
    }

    public func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor] {
        inputs
    }

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
            let scale = Foundation.pow(total / Float(hidden) + Self.epsilon, -0.5)
            for column in 0..<hidden {
                let normalised = DType.roundToBF16(sums[row * hidden + column] * scale)
                outputs[row * hidden + column] = DType.roundToBF16(weight[column] * normalised)
            }
        }
        var result = [HostTensor(shape: [tokens, hidden], data: outputs)]
        if residual { result.append(HostTensor(shape: [tokens, hidden], data: sums)) }
        return result
    }

    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem {
        problem.with(
            Self.tokens, KernelIdioms.checkSize(problem[Self.tokens], extent: configuration[Self.tileT]))
    }
}
