import Foundation

/// Causal grouped-query attention over the prompt, flash style: for each query tile, key tiles up to
/// the diagonal update a running row maximum, row sum and fp32 output accumulator (rescaled by
/// `exp(m_old - m_new)`); the diagonal tile adds a causal mask made once by `iota`. Probabilities are
/// bf16 for `P V`; the output is bf16.
///
/// `k_tile` sets where the online softmax rescales, so it changes numerics; `q_tile` (a multiple of
/// `k_tile`, which keeps the causal triangle affine) and the rest move data or change engines. The
/// softmax statistics stay in SBUF fp32 and ScalarE exponentiates: `activation` is ScalarE's alone in
/// the NKI 2.27 ISA.
public struct AttentionPrefillTemplate: KernelTemplate {
    public init() {}

    public let id = "attention-prefill"
    public let summary = "causal grouped-query attention over the prompt (flash style, online softmax)"

    /// The key tile sets where the online softmax rescales; the query tile only groups rows.
    public let numericParameters: Set<String> = ["k_tile"]

    public let problemFields: [ProblemField] = [
        ProblemField("S", .size), ProblemField("heads", .size), ProblemField("kv_heads", .size),
        ProblemField("d", .size, default: .int(128)),
    ]

    public let parameters: [Parameter] = [
        Parameter("q_tile", .ints([64, 128]), default: .int(128), "queries per tile (partitions)"),
        Parameter("k_tile", .ints([32, 64, 128]), default: .int(128), "keys per tile (must divide q_tile)"),
        Parameter("bufs", .ints([1, 2, 3]), default: .int(2), "rotating copies of each K/V tile"),
        Parameter(
            "k_layout", .choices(["pretransposed", "dma_transpose", "tensor_transpose"]),
            default: .choice("pretransposed"), "K stored as [d, S], or transposed in the kernel by DMA or TensorE"),
        Parameter(
            "q_layout", .choices(["tensor_transpose", "dma_transpose"]), default: .choice("tensor_transpose"),
            "how each query tile gets head_dim onto partitions"),
        Parameter(
            "scale_engine", .choices(["scalar", "vector"]), default: .choice("scalar"), "engine that scales the scores"),
        Parameter(
            "rescale_engine", .choices(["vector", "gpsimd"]), default: .choice("vector"),
            "engine that rescales and adds into the output accumulator"),
    ]

    public func macs(for problem: Problem) -> Int {
        let positions = problem.size("S")
        return 2 * problem.size("heads") * positions * (positions + 1) / 2 * problem.size("d")
    }

    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        let (positions, heads, kvHeads, d) = (
            problem.size("S"), problem.size("heads"), problem.size("kv_heads"), problem.size("d")
        )
        if heads % kvHeads != 0 { return "heads=\(heads) is not a multiple of kv_heads=\(kvHeads)" }
        if d > 128 { return "d=\(d) exceeds the 128 partitions of one contraction" }
        let (queryTile, keyTile) = (configuration.int("q_tile"), configuration.int("k_tile"))
        if queryTile % keyTile != 0 { return "k_tile=\(keyTile) must divide q_tile=\(queryTile)" }
        return KernelIdioms.redundantTile("q_tile", queryTile, covering: positions, dimension: "S", smallest: 64)
    }

    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let (positions, heads, kvHeads, d) = (
            problem.size("S"), problem.size("heads"), problem.size("kv_heads"), problem.size("d")
        )
        return [
            HostTensor.random([heads * positions, d], dtype: .bf16, seed: seed),
            HostTensor.random([kvHeads * positions, d], dtype: .bf16, seed: seed &+ 1),
            HostTensor.random([kvHeads * positions, d], dtype: .bf16, seed: seed &+ 2),
        ]
    }

    public func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor] {
        guard configuration.choice("k_layout") == "pretransposed" else { return inputs }
        let keys = AttentionDecodeTemplate.transposeBlocks(
            inputs[1], blockRows: problem.size("S"), d: problem.size("d"))
        return [inputs[0], keys, inputs[2]]
    }

    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        let (positions, heads, kvHeads, d) = (
            problem.size("S"), problem.size("heads"), problem.size("kv_heads"), problem.size("d")
        )
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

    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem {
        problem.with("S", KernelIdioms.checkSize(problem.size("S"), extent: configuration.int("q_tile") * 2))
    }

    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        var builder = AttentionPrefillBuilder(problem: problem, configuration: configuration)
        return builder.build()
    }
}
