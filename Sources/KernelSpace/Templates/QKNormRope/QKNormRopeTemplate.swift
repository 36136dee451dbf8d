import Foundation

/// Qwen3's per-head RMSNorm of queries and keys over `head_dim`, then rotary position embedding:
/// `out = n * cos + rotate_half(n) * sin` with `rotate_half([a, b]) = [-b, a]`. With
/// `layout=tokens`, tokens sit on partitions and the heads go one at a time; with `layout=heads`
/// (for few tokens), one token's q and k heads sit on partitions together. `q` and `k` arrive as `[T, heads * d]`; `cos` and `sin` are the caller's `[T, d]`
/// tables (bf16, with the model's RoPE base, as Hugging Face's `Qwen3MoeRotaryEmbedding` makes them). Every multiply
/// and add rounds to bf16, as the Hugging Face modules do.
public struct QKNormRopeTemplate: KernelTemplate {
    /// The template for a model's RMSNorm `epsilon` and RoPE base `ropeTheta`.
    public init(epsilon: Float, ropeTheta: Double) {
        self.epsilon = epsilon
        self.ropeTheta = ropeTheta
    }

    /// The identifier on the command line and in cache keys.
    public let id = "qk-norm-rope"
    /// One line on what the kernel computes.
    public let summary = "per-head RMSNorm of q and k over head_dim, then rotary embedding"
    /// Added to each head's mean square (the model's `rms_norm_eps`).
    public let epsilon: Float
    /// Base of the rotary frequencies (the model's `rope_theta`).
    public let ropeTheta: Double

    /// Every parameter only moves data or changes engines.
    public let numericParameters: Set<String> = []

    static let tokens = SizeField("T")
    static let queryHeads = SizeField("q_heads")
    static let keyValueHeads = SizeField("kv_heads")
    static let headDim = SizeField("d", default: 128)
    static let position = SizeField(offset: "pos", default: 0)

    static let layout = ChoiceKey<HeadLayout>(
        "layout", [.tokens, .heads], default: .tokens,
        "tokens on partitions (a head at a time), or one token at a time with its heads on partitions")
    static let tileT = IntKey("tile_t", [32, 64, 128], default: 128, "tokens per tile (partitions)")
    static let bufs = IntKey("bufs", [1, 2, 3], default: 2, "rotating copies of each token tile")
    static let square = ChoiceKey<Engine>(
        "square", [.scalar, .vector], default: .scalar,
        "sum of squares on ScalarE (activation_reduce) or VectorE (multiply, reduce)")
    static let normEngine = ChoiceKey<Engine>(
        "norm_engine", [.vector, .gpsimd], default: .vector, "engine of the norm's products")
    static let ropeEngine = ChoiceKey<Engine>(
        "rope_engine", [.vector, .gpsimd], default: .vector, "engine of the rotation")
    static let split = CoreSharing.split([.tokens], "how the cores share the rows: none, or half the tokens each")

    /// The problem's dimensions and options, in order.
    public var problemFields: [ProblemField] {
        [Self.tokens, Self.queryHeads, Self.keyValueHeads, Self.headDim, Self.position].map(\.field)
            + [CoreSharing.lnc.field]
    }

    /// The tunable parameters with their built-in domains and defaults.
    public var parameters: [Parameter] {
        [
            Self.layout.parameter, Self.tileT.parameter, Self.bufs.parameter, Self.square.parameter,
            Self.normEngine.parameter,
            Self.ropeEngine.parameter, Self.split.parameter,
        ]
    }

    /// The problem, unpacked once.
    struct Shape {
        let tokens: Int
        let queryHeads: Int
        let keyValueHeads: Int
        let headDim: Int
        let position: Int

        init(_ problem: Problem) {
            tokens = problem[QKNormRopeTemplate.tokens]
            queryHeads = problem[QKNormRopeTemplate.queryHeads]
            keyValueHeads = problem[QKNormRopeTemplate.keyValueHeads]
            headDim = problem[QKNormRopeTemplate.headDim]
            position = problem[QKNormRopeTemplate.position]
        }
    }

    /// The problem of `tokens` rows of query and key heads at positions `position ..< position + tokens`,
    /// on a logical core of `cores`.
    public static func problem(
        tokens: Int, queryHeads: Int, keyValueHeads: Int, headDim: Int, position: Int, cores: LogicalCoreSize = .one
    ) -> Problem {
        Problem(
            names: [Self.tokens, Self.queryHeads, Self.keyValueHeads, Self.headDim, Self.position].map(\.field.name)
                + [CoreSharing.lnc.field.name],
            values: [tokens, queryHeads, keyValueHeads, headDim, position].map { .int($0) } + [.choice(cores.rawValue)])
    }

    /// Small problems the test suite checks this template on, including sizes that do not divide its tiles.
    public var checkProblems: [String] {
        [
            "T=40,q_heads=2,kv_heads=1,d=64,pos=7", "T=130,q_heads=1,kv_heads=1,d=128,pos=500",
            "T=3,q_heads=8,kv_heads=2,d=64,pos=9", "T=70,q_heads=2,kv_heads=1,d=64,pos=5,lnc=2",
        ]
    }
    /// A problem to show this template on.
    public var demoProblem: String { "T=16,q_heads=2,kv_heads=1,d=128,pos=3" }
    /// The buffer counts are the compiler's on hardware (see ``CompilerHint/bufferCopies``).
    public var compilerHints: [String: String] { [Self.bufs.parameter.name: CompilerHint.bufferCopies] }

    /// Multiply-accumulates of one call.
    public func macs(for problem: Problem) -> Int { 0 }

    /// Why a configuration is not a sensible variant of this problem, or nil if it is.
    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        let shape = Shape(problem)
        if shape.headDim % 2 != 0 { return "d=\(shape.headDim) must be even to rotate halves" }
        let oneTokenAtATime = configuration[Self.layout] == .heads
        if oneTokenAtATime {
            if shape.queryHeads + shape.keyValueHeads > 128 {
                return
                    "layout=heads puts q_heads + kv_heads = \(shape.queryHeads + shape.keyValueHeads) on 128 partitions"
            }
        }
        if let reason = KernelIdioms.tokenTileRestriction(
            configuration[Self.tileT], tokens: shape.tokens, oneTokenAtATime: oneTokenAtATime ? "layout=heads" : nil)
        {
            return reason
        }
        let split = configuration[Self.split]
        return CoreSharing.restriction(split, problem, tokens: shape.tokens)
    }

    /// `cos` and `sin` tables for positions `pos ..< pos + T`, rounded to bf16.
    func tables(tokens: Int, dimension: Int, start: Int) -> (cos: HostTensor, sin: HostTensor) {
        var cosines: [Float] = []
        var sines: [Float] = []
        for token in 0..<tokens {
            for index in 0..<dimension {
                let frequency = Foundation.pow(ropeTheta, -Double(2 * (index % (dimension / 2))) / Double(dimension))
                let angle = Double(start + token) * frequency
                cosines.append(DType.roundToBF16(Float(Foundation.cos(angle))))
                sines.append(DType.roundToBF16(Float(Foundation.sin(angle))))
            }
        }
        return (
            HostTensor(shape: [tokens, dimension], data: cosines), HostTensor(shape: [tokens, dimension], data: sines)
        )
    }

    /// Random logical inputs, the operands as the reference takes them.
    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let shape = Shape(problem)
        let (tokens, d) = (shape.tokens, shape.headDim)
        let (cos, sin) = tables(tokens: tokens, dimension: d, start: shape.position)
        return [
            HostTensor.random([tokens, shape.queryHeads * d], dtype: .bf16, seed: seed),
            HostTensor.random([tokens, shape.keyValueHeads * d], dtype: .bf16, seed: seed &+ 1),
            HostTensor.random([1, d], dtype: .bf16, seed: seed &+ 2),
            HostTensor.random([1, d], dtype: .bf16, seed: seed &+ 3),
            cos, sin,
        ]
    }

    /// What the kernel must compute, written plainly.
    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        let shape = Shape(problem)
        let (tokens, d) = (shape.tokens, shape.headDim)
        let (cos, sin) = (inputs[4].data, inputs[5].data)
        func apply(_ x: HostTensor, heads: Int, weight: [Float]) -> HostTensor {
            var out = [Float](repeating: 0, count: x.data.count)
            let half = d / 2
            for token in 0..<tokens {
                for head in 0..<heads {
                    let base = token * heads * d + head * d
                    var total: Float = 0
                    for index in 0..<d { total += x.data[base + index] * x.data[base + index] }
                    let scale = Foundation.pow(total / Float(d) + epsilon, -0.5)
                    let n = (0..<d).map { DType.roundToBF16(weight[$0] * DType.roundToBF16(x.data[base + $0] * scale)) }
                    for index in 0..<d {
                        let rotated = index < half ? -n[index + half] : n[index - half]
                        let table = token * d + index
                        let direct = DType.roundToBF16(n[index] * cos[table])
                        let turned = DType.roundToBF16(rotated * sin[table])
                        out[base + index] = DType.roundToBF16(direct + turned)
                    }
                }
            }
            return HostTensor(shape: x.shape, data: out)
        }
        return [
            apply(inputs[0], heads: shape.queryHeads, weight: inputs[2].data),
            apply(inputs[1], heads: shape.keyValueHeads, weight: inputs[3].data),
        ]
    }

    /// A smaller problem with the same program structure, for numeric checks.
    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem {
        let extent = configuration[Self.layout] == .heads ? 2 : configuration[Self.tileT]
        // Split, each core's half keeps the tile structure.
        let rows = CoreSharing.checkRows(problem[Self.tokens], extent: extent, split: configuration[Self.split])
        return problem.with(Self.tokens, rows)
    }
}
