import Foundation

/// Qwen3's per-head RMSNorm of queries and keys over `head_dim`, then rotary position embedding:
/// `out = n * cos + rotate_half(n) * sin` with `rotate_half([a, b]) = [-b, a]`. Tokens sit on
/// partitions; `q` and `k` arrive as `[T, heads * d]`; `cos` and `sin` are the caller's `[T, d]`
/// tables (bf16, theta 1e6, as Hugging Face's `Qwen3MoeRotaryEmbedding` makes them). Every multiply
/// and add rounds to bf16, as the Hugging Face modules do.
public struct QKNormRopeTemplate: KernelTemplate {
    public init() {}

    public let id = "qk-norm-rope"
    public let summary = "per-head RMSNorm of q and k over head_dim, then rotary embedding"
    /// Qwen3's RoPE base.
    public static let theta = 1_000_000.0

    /// Every parameter only moves data or changes engines.
    public let numericParameters: Set<String> = []

    public let problemFields: [ProblemField] = [
        ProblemField("T", .size), ProblemField("q_heads", .size), ProblemField("kv_heads", .size),
        ProblemField("d", .size, default: .int(128)), ProblemField("pos", .offset, default: .int(0)),
    ]

    public let parameters: [Parameter] = [
        Parameter("tile_t", .ints([32, 64, 128]), default: .int(128), "tokens per tile (partitions)"),
        Parameter("bufs", .ints([1, 2, 3]), default: .int(2), "rotating copies of each token tile"),
        Parameter(
            "square", .choices(["scalar", "vector"]), default: .choice("scalar"),
            "sum of squares on ScalarE (activation_reduce) or VectorE (multiply, reduce)"),
        Parameter(
            "norm_engine", .choices(["vector", "gpsimd"]), default: .choice("vector"), "engine of the norm's products"),
        Parameter("rope_engine", .choices(["vector", "gpsimd"]), default: .choice("vector"), "engine of the rotation"),
    ]

    public func macs(for problem: Problem) -> Int { 0 }

    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        if problem.size("d") % 2 != 0 { return "d=\(problem.size("d")) must be even to rotate halves" }
        let tile = configuration.int("tile_t")
        let tokens = problem.size("T")
        if let reason = KernelIdioms.redundantTile("tile_t", tile, covering: tokens, dimension: "T", smallest: 32) {
            return reason
        }
        return nil
    }

    /// `cos` and `sin` tables for positions `pos ..< pos + T`, rounded to bf16.
    static func tables(tokens: Int, dimension: Int, start: Int) -> (cos: HostTensor, sin: HostTensor) {
        var cosines: [Float] = []
        var sines: [Float] = []
        for token in 0..<tokens {
            for index in 0..<dimension {
                let frequency = Foundation.pow(theta, -Double(2 * (index % (dimension / 2))) / Double(dimension))
                let angle = Double(start + token) * frequency
                cosines.append(DType.roundToBF16(Float(Foundation.cos(angle))))
                sines.append(DType.roundToBF16(Float(Foundation.sin(angle))))
            }
        }
        return (
            HostTensor(shape: [tokens, dimension], data: cosines), HostTensor(shape: [tokens, dimension], data: sines)
        )
    }

    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let (tokens, d) = (problem.size("T"), problem.size("d"))
        let (cos, sin) = Self.tables(tokens: tokens, dimension: d, start: problem.size("pos"))
        return [
            HostTensor.random([tokens, problem.size("q_heads") * d], dtype: .bf16, seed: seed),
            HostTensor.random([tokens, problem.size("kv_heads") * d], dtype: .bf16, seed: seed &+ 1),
            HostTensor.random([1, d], dtype: .bf16, seed: seed &+ 2),
            HostTensor.random([1, d], dtype: .bf16, seed: seed &+ 3),
            cos, sin,
        ]
    }

    public func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor] {
        inputs
    }

    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        let (tokens, d) = (problem.size("T"), problem.size("d"))
        let (cos, sin) = (inputs[4].data, inputs[5].data)
        func apply(_ x: HostTensor, heads: Int, weight: [Float]) -> HostTensor {
            var out = [Float](repeating: 0, count: x.data.count)
            let half = d / 2
            for token in 0..<tokens {
                for head in 0..<heads {
                    let base = token * heads * d + head * d
                    var total: Float = 0
                    for index in 0..<d { total += x.data[base + index] * x.data[base + index] }
                    let scale = Foundation.pow(total / Float(d) + RMSNormTemplate.epsilon, -0.5)
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
            apply(inputs[0], heads: problem.size("q_heads"), weight: inputs[2].data),
            apply(inputs[1], heads: problem.size("kv_heads"), weight: inputs[3].data),
        ]
    }

    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem {
        let tokens = problem.size("T")
        let tile = configuration.int("tile_t")
        return problem.with("T", KernelIdioms.checkSize(tokens, extent: tile))
    }

    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        var builder = QKNormRopeBuilder(problem: problem, configuration: configuration)
        return builder.build()
    }
}
