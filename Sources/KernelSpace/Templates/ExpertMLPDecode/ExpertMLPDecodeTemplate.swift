import Foundation

/// The routed experts of one decode step: for each token and each of its `k` selected experts,
/// `down_e(SiLU(gate_e x) * up_e x)` scaled by the routing weight and summed. Expert weights are
/// fetched by DMAs whose start is the router's expert index, read at run time from SBUF
/// (`scalar_offset`, as descriptor-generated DMAs allow). Layouts: `gate_up [E, H, 2I]` (gate
/// columns first), `down [E, I, H]`, `expert_index [T, k]` int32, `expert_weight [T, k]` fp32.
///
/// `acc_dtype` (the sum over experts in fp32 or bf16) changes numerics; the rest moves data or
/// changes engines.
public struct ExpertMLPDecodeTemplate: KernelTemplate {
    public init() {}

    public let id = "expert-mlp-decode"
    public let summary = "decode MoE: each token's k selected experts (gate/up, SiLU * up, down), weighted sum"
    public let numericParameters: Set<String> = ["acc_dtype"]

    public let problemFields: [ProblemField] = [
        ProblemField("T", .size), ProblemField("H", .size), ProblemField("I", .size), ProblemField("E", .size),
        ProblemField("k", .size, default: .int(8)),
    ]

    public let parameters: [Parameter] = [
        Parameter("bufs", .ints([1, 2, 3]), default: .int(2), "experts' weights prefetched ahead (rotating copies)"),
        Parameter(
            "gate_up", .choices(["fused", "separate"]), default: .choice("fused"),
            "load gate and up columns in one DMA per hidden tile, or one each"),
        Parameter("down_tile", .ints([256, 512]), default: .int(512), "hidden columns per down-projection matmul"),
        Parameter(
            "multiply_engine", .choices(["vector", "gpsimd"]), default: .choice("vector"), "engine of SiLU(gate) * up"),
        Parameter(
            "accumulate_engine", .choices(["vector", "gpsimd"]), default: .choice("vector"),
            "engine of the weighted sum"),
        Parameter("acc_dtype", .choices(["fp32", "bf16"]), default: .choice("fp32"), "type of the sum over experts"),
    ]

    public func macs(for problem: Problem) -> Int {
        problem.size("T") * problem.size("k") * 3 * problem.size("H") * problem.size("I")
    }

    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        let (tokens, hidden, columns, experts, k) = dimensions(problem)
        if k > experts { return "k=\(k) exceeds E=\(experts)" }
        if tokens > 128 { return "T=\(tokens) exceeds the 128 partitions of one token tile" }
        if 2 * columns > 512 { return "2I=\(2 * columns) exceeds one PSUM bank of gate/up columns (512)" }
        if hidden > 128 && hidden % 128 != 0 {
            return "H=\(hidden) must be at most 128 or a multiple of 128 (hidden tiles)"
        }
        if configuration.int("down_tile") > 256 && hidden <= 256 {
            return "down_tile=\(configuration.int("down_tile")) is redundant: 256 covers H=\(hidden)"
        }
        return nil
    }

    func dimensions(_ problem: Problem) -> (Int, Int, Int, Int, Int) {
        (problem.size("T"), problem.size("H"), problem.size("I"), problem.size("E"), problem.size("k"))
    }

    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let (tokens, hidden, columns, experts, k) = dimensions(problem)
        var generator = SplitMix64(seed: seed &+ 7)
        var indices: [Float] = []
        var weights: [Float] = []
        for _ in 0..<tokens {
            var chosen: [Int] = []
            while chosen.count < k {
                let expert = Int(generator.next() % UInt64(experts))
                if !chosen.contains(expert) { chosen.append(expert) }
            }
            let raw = (0..<k).map { _ in generator.nextUnitFloat() + 0.1 }
            let total = raw.reduce(0, +)
            indices += chosen.map(Float.init)
            weights += raw.map { $0 / total }
        }
        return [
            HostTensor.random([tokens, hidden], dtype: .bf16, seed: seed),
            HostTensor.random([experts, hidden, 2 * columns], dtype: .bf16, seed: seed &+ 1),
            HostTensor.random([experts, columns, hidden], dtype: .bf16, seed: seed &+ 2),
            HostTensor(shape: [tokens, k], data: indices), HostTensor(shape: [tokens, k], data: weights),
        ]
    }

    public func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor] {
        inputs
    }

    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        let (tokens, hidden, columns, _, k) = dimensions(problem)
        let (x, gateUp, down) = (inputs[0].data, inputs[1].data, inputs[2].data)
        var out = [Float](repeating: 0, count: tokens * hidden)
        for token in 0..<tokens {
            var total = [Double](repeating: 0, count: hidden)
            for slot in 0..<k {
                let expert = Int(inputs[3].data[token * k + slot])
                let weight = Double(inputs[4].data[token * k + slot])
                var projected = [Double](repeating: 0, count: 2 * columns)
                for row in 0..<hidden {
                    let value = Double(x[token * hidden + row])
                    let base = (expert * hidden + row) * 2 * columns
                    for column in 0..<(2 * columns) { projected[column] += value * Double(gateUp[base + column]) }
                }
                let activated = (0..<columns).map { column -> Double in
                    let gate = Double(DType.roundToBF16(Float(projected[column])))
                    let up = Double(DType.roundToBF16(Float(projected[columns + column])))
                    return Double(DType.roundToBF16(Float(gate / (1 + Foundation.exp(-gate)) * up)))
                }
                for column in 0..<columns {
                    let base = (expert * columns + column) * hidden
                    for row in 0..<hidden { total[row] += weight * activated[column] * Double(down[base + row]) }
                }
            }
            for row in 0..<hidden { out[token * hidden + row] = DType.roundToBF16(Float(total[row])) }
        }
        return [HostTensor(shape: [tokens, hidden], data: out)]
    }

    /// The same program structure with only the `k` experts a token uses (every run-time offset
    /// still taken from the router's indices) and H cut to at most two down tiles with the same
    /// remainder.
    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem {
        let (_, hidden, _, experts, k) = dimensions(problem)
        return problem.with("E", min(experts, k)).with(
            "H", KernelIdioms.checkSize(hidden, extent: configuration.int("down_tile")))
    }

    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        var builder = ExpertMLPDecodeBuilder(problem: problem, configuration: configuration)
        return builder.build()
    }
}
