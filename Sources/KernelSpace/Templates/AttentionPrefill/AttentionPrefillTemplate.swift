import Foundation

/// Causal grouped-query attention over the prompt, flash style: for each query tile, key tiles up to
/// the diagonal update a running row maximum, row sum and fp32 output accumulator (rescaled by
/// `exp(m_old - m_new)`); the diagonal tile adds a causal mask made once by `iota`. Probabilities are
/// bf16 for `P V`; the output is bf16. With `softmax=row` a query tile's whole causal row of scores
/// is gathered first and normalised once, and `P V` accumulates over the key tiles in PSUM (fewer,
/// larger VectorE steps; ``SoftmaxPass``).
///
/// `k_tile` sets where the online softmax rescales, so it changes numerics, as does `softmax`; `q_tile` (a multiple of
/// `k_tile`, which keeps the causal triangle affine) and the rest move data or change engines. The
/// softmax statistics stay in SBUF fp32 and ScalarE exponentiates: `activation` is ScalarE's alone in
/// the NKI 2.27 ISA.
public struct AttentionPrefillTemplate: AttentionTemplate {
    /// Creates a value with every field given.
    public init() {}

    /// The identifier on the command line and in cache keys.
    public let id = "attention-prefill"
    /// One line on what the kernel computes.
    public let summary = "causal grouped-query attention over the prompt (online or whole-row softmax)"

    /// The key tile sets where the online softmax rescales; the query tile only groups rows.
    public var numericParameters: Set<String> { [Self.kTile.parameter.name, Self.softmax.parameter.name] }

    static let qTile = IntKey("q_tile", [64, 128], default: 128, "queries per tile (partitions)")
    static let kTile = IntKey("k_tile", [32, 64, 128], default: 128, "keys per tile (must divide q_tile)")
    static let bufs = IntKey("bufs", [1, 2, 3], default: 2, "rotating copies of each K/V tile")
    static let kLayout = ChoiceKey<OperandLayout>(
        "k_layout", [.pretransposed, .dmaTranspose, .tensorTranspose], default: .pretransposed,
        "K stored as [d, S], or transposed in the kernel by DMA or TensorE")
    static let qLayout = ChoiceKey<OperandLayout>(
        "q_layout", [.tensorTranspose, .dmaTranspose], default: .tensorTranspose,
        "how each query tile gets head_dim onto partitions")
    static let scaleEngine = ChoiceKey<Engine>(
        "scale_engine", [.scalar, .vector], default: .scalar, "engine that scales the scores")
    static let kv = ChoiceKey<KVPlacement>(
        "kv", [.stream, .resident], default: .stream,
        "load K and V tiles for every query tile, or a KV head's whole K and V once into SBUF")
    static let passHeads = IntKey(
        "pass_heads", [1, 2], default: 1,
        "query heads of a KV head computed together, step by step (one's softmax overlaps the other's matmuls; "
            + "K/V tiles serve both)")
    static let transposeEngine = ChoiceKey<Engine>(
        "transpose_engine", [.vector, .scalar], default: .vector,
        "engine moving the transposed probabilities out of PSUM with softmax=row")
    static let softmax = ChoiceKey<SoftmaxPass>(
        "softmax", [.online, .row], default: .online,
        "online (running max and rescaled accumulator per key tile) or row (the whole causal row normalised once)")

    /// The problem's dimensions and options, in order.
    public var problemFields: [ProblemField] { AttentionShape.fields }

    /// The tunable parameters with their built-in domains and defaults.
    public var parameters: [Parameter] {
        [Self.qTile, Self.kTile, Self.bufs].map(\.parameter)
            + [Self.kLayout, Self.qLayout].map(\.parameter)
            + [Self.kv.parameter, Self.softmax.parameter, Self.passHeads.parameter, Self.scaleEngine.parameter]
            + [Self.transposeEngine.parameter]
            + [AttentionShape.split.parameter]
    }

    /// The problem, unpacked once.
    typealias Shape = AttentionShape

    /// Small problems the test suite checks this template on, including sizes that do not divide its tiles.
    public var checkProblems: [String] {
        [
            "S=150,heads=2,kv_heads=1,d=64", "S=128,heads=4,kv_heads=2,d=32", "S=150,heads=2,kv_heads=1,d=64,lnc=2",
        ]
    }
    /// A problem to show this template on.
    public var demoProblem: String { "S=200,heads=2,kv_heads=1,d=128" }
    /// The buffer counts are the compiler's on hardware (see ``CompilerHint/bufferCopies``).
    public var compilerHints: [String: String] { [Self.bufs.parameter.name: CompilerHint.bufferCopies] }

    /// Multiply-accumulates of one call.
    public func macs(for problem: Problem) -> Int {
        let shape = Shape(problem)
        return 2 * shape.heads * shape.positions * (shape.positions + 1) / 2 * shape.headDim
    }

    /// Why a configuration is not a sensible variant of this problem, or nil if it is.
    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        if let reason = AttentionShape.splitRestriction(configuration, for: problem) { return reason }
        let shape = Shape(AttentionShape.coreProblem(problem, configuration))
        if let reason = shape.restriction { return reason }
        let (queryTile, keyTile) = (configuration[Self.qTile], configuration[Self.kTile])
        if queryTile % keyTile != 0 { return "k_tile=\(keyTile) must divide q_tile=\(queryTile)" }
        if configuration[Self.kv] == .resident {
            if configuration[Self.bufs] != 1 {
                return "kv=resident rotates no K/V tiles: bufs=\(configuration[Self.bufs]) is redundant"
            }
            // K^T and V of a whole KV head, bf16, per partition.
            if shape.positions * 4 > 64 * 1024 {
                return "kv=resident holds 4 bytes a key per partition: S=\(shape.positions) exceeds 64 KiB of SBUF"
            }
        }
        let pass = configuration[Self.passHeads]
        if pass > 1 {
            if configuration[Self.softmax] != .row {
                return "pass_heads=\(pass) interleaves whole-row softmax passes (softmax=row)"
            }
            let group = shape.heads / shape.keyValueHeads
            if group % pass != 0 { return "pass_heads=\(pass) must divide the \(group) query heads of a KV head" }
        }
        if configuration[Self.softmax] != .row && configuration[Self.transposeEngine] != .vector {
            return "transpose_engine applies to softmax=row (the online pass moves P with VectorE)"
        }
        if configuration[Self.softmax] == .row {
            // fp32 scores and bf16 probabilities of a whole row, per partition.
            if shape.positions * 6 > 96 * 1024 {
                return "softmax=row holds 6 bytes a key per partition: S=\(shape.positions) exceeds 96 KiB of SBUF"
            }
        }
        return KernelIdioms.redundantTile(
            "q_tile", queryTile, covering: shape.positions, dimension: "S", smallest: 64)
    }

    /// Random logical inputs, the operands as the reference takes them.
    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let shape = Shape(problem)
        let (positions, heads, kvHeads, d) = (shape.positions, shape.heads, shape.keyValueHeads, shape.headDim)
        return [
            HostTensor.random([heads * positions, d], dtype: .bf16, seed: seed),
            HostTensor.random([kvHeads * positions, d], dtype: .bf16, seed: seed &+ 1),
            HostTensor.random([kvHeads * positions, d], dtype: .bf16, seed: seed &+ 2),
        ]
    }

    /// The kernel's arguments for logical inputs, in the configuration's layouts.
    public func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor] {
        guard configuration[Self.kLayout] == .pretransposed else { return inputs }
        let shape = Shape(problem)
        let keys = AttentionDecodeTemplate.transposeBlocks(inputs[1], blockRows: shape.positions, d: shape.headDim)
        return [inputs[0], keys, inputs[2]]
    }

    /// What the kernel must compute, written plainly.
    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        let shape = Shape(problem)
        let (positions, heads, kvHeads, d) = (shape.positions, shape.heads, shape.keyValueHeads, shape.headDim)
        let group = heads / kvHeads
        let scale = 1 / Foundation.sqrt(Double(d))
        var out = [Float](repeating: 0, count: heads * positions * d)
        for head in 0..<heads {
            let kv = head / group
            for query in 0..<positions {
                var scores = [Double](repeating: 0, count: query + 1)
                for key in 0...query {
                    var dot = 0.0
                    for index in 0..<d {
                        dot +=
                            Double(inputs[0].data[(head * positions + query) * d + index])
                            * Double(inputs[1].data[(kv * positions + key) * d + index])
                    }
                    scores[key] = dot * scale
                }
                let largest = scores.max() ?? 0
                let weights = scores.map { Foundation.exp($0 - largest) }
                let total = weights.reduce(0, +)
                for index in 0..<d {
                    var sum = 0.0
                    for key in 0...query {
                        sum += weights[key] * Double(inputs[2].data[(kv * positions + key) * d + index])
                    }
                    out[(head * positions + query) * d + index] = DType.roundToBF16(Float(sum / total))
                }
            }
        }
        return [HostTensor(shape: [heads * positions, d], data: out)]
    }

    /// A smaller problem with the same program structure, for numeric checks.
    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem {
        problem.with(
            AttentionShape.positions,
            KernelIdioms.checkSize(problem[AttentionShape.positions], extent: configuration[Self.qTile] * 2))
    }
}
