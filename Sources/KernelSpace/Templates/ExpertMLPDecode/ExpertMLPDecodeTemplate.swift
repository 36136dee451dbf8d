import Foundation

/// The routed experts of one decode step: for each token and each of its `k` selected experts,
/// `down_e(SiLU(gate_e x) * up_e x)` scaled by the routing weight and summed. Expert weights are
/// fetched by DMAs whose start is the router's expert index, read at run time from SBUF
/// (`scalar_offset`, as descriptor-generated DMAs allow). Layouts: `gate_up [E, H, 2I]` (gate
/// columns first), `down [E, I, H]`, `expert_index [T, k]` int32, `expert_weight [T, k]` fp32.
///
/// `acc_dtype` (the sum over experts in fp32 or bf16) changes numerics; the rest moves data or
/// changes engines. `weights` swaps the matmul operands: every sum runs in the same order either
/// way, so both orientations compute the same bits.
public struct ExpertMLPDecodeTemplate: KernelTemplate {
    /// Creates a value with every field given.
    public init() {}

    /// The identifier on the command line and in cache keys.
    public let id = "expert-mlp-decode"
    /// One line on what the kernel computes.
    public let summary = "decode MoE: each token's k selected experts (gate/up, SiLU * up, down), weighted sum"
    /// The parameters that change the numbers computed (see ``KernelTemplate/numericParameters``).
    public var numericParameters: Set<String> { [Self.accumulatorType.parameter.name, Self.split.parameter.name] }

    static let bufs = IntKey("bufs", [1, 2, 3], default: 2, "experts' weights prefetched ahead (rotating copies)")
    static let weights = ChoiceKey<WeightOperand>(
        "weights", [.moving, .stationary], default: .moving,
        "matmul operand of the experts' weights: moving past the token (moving) or 128 x 128 tiles held (stationary)")
    static let gateUp = ExpertShape.gateUp
    static let downTile = ExpertShape.downTile
    static let accumulatorType = ChoiceKey<AccumulatorType>(
        "acc_dtype", [.fp32, .bf16], default: .fp32, "type of the sum over experts")
    static let split = CoreSharing.split(
        [.experts, .expertsHidden],
        "how the cores share the experts: none; k/2 each with the two partial sums added through HBM (experts); "
            + "gate/up of k/2 each, then every down projection for half of H each (experts_hidden)")

    /// The problem's dimensions and options, in order.
    public var problemFields: [ProblemField] { ExpertShape.fields + [CoreSharing.lnc.field] }

    /// The tunable parameters with their built-in domains and defaults.
    public var parameters: [Parameter] {
        [
            Self.bufs.parameter, Self.weights.parameter, Self.gateUp.parameter, Self.downTile.parameter,
            Self.accumulatorType.parameter, Self.split.parameter,
        ]
    }

    /// The problem of `tokens` tokens, each through `k` of `experts` experts of `hidden` x `columns`,
    /// on a logical core of `cores`.
    public static func problem(
        tokens: Int, hidden: Int, columns: Int, experts: Int, k: Int, cores: LogicalCoreSize = .one
    ) -> Problem {
        Problem(
            names: ExpertShape.fields.map(\.name) + [CoreSharing.lnc.field.name],
            values: [tokens, hidden, columns, experts, k].map { .int($0) } + [.choice(cores.rawValue)])
    }

    /// Small problems the test suite checks this template on, including sizes that do not divide its tiles.
    public var checkProblems: [String] {
        ["T=1,H=256,I=96,E=8,k=3", "T=2,H=128,I=160,E=6,k=2", "T=2,H=384,I=64,E=4,k=2", "T=1,H=256,I=96,E=8,k=4,lnc=2"]
    }
    /// A problem to show this template on.
    public var demoProblem: String { "T=1,H=2048,I=192,E=128,k=8" }
    /// The buffer counts are the compiler's on hardware (see ``CompilerHint/bufferCopies``).
    public var compilerHints: [String: String] { [Self.bufs.parameter.name: CompilerHint.bufferCopies] }

    /// Multiply-accumulates of one call.
    public func macs(for problem: Problem) -> Int {
        let shape = ExpertShape(problem)
        return shape.tokens * shape.k * 3 * shape.hidden * shape.columns
    }

    /// Why a configuration is not a sensible variant of this problem, or nil if it is.
    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        let (tokens, hidden, columns, experts, k) = ExpertShape(problem).dimensions
        if k > experts { return "k=\(k) exceeds E=\(experts)" }
        if tokens > 128 { return "T=\(tokens) exceeds the 128 partitions of one token tile" }
        if 2 * columns > 512 { return "2I=\(2 * columns) exceeds one PSUM bank of gate/up columns (512)" }
        if hidden > 128 && hidden % 128 != 0 {
            return "H=\(hidden) must be at most 128 or a multiple of 128 (hidden tiles)"
        }
        let split = configuration[Self.split]
        if let reason = CoreSharing.restriction(split, problem) { return reason }
        if split != .none && k % 2 != 0 { return "split=\(split.rawValue) needs an even k (k=\(k))" }
        if split == .experts && hidden % 2 != 0 {
            return "split=experts adds the partial sums by halves of H=\(hidden)"
        }
        if split == .expertsHidden {
            if configuration[Self.weights] != .stationary { return "split=experts_hidden needs weights=stationary" }
            if hidden % 2 != 0 || (hidden / 2 > 128 && hidden / 2 % 128 != 0) {
                return
                    "split=experts_hidden lays half of H=\(hidden) on partitions: H/2 must be at most 128 or a multiple of 128"
            }
            if k * max(1, hidden / 256) > 512 {
                return "split=experts_hidden keeps k x H/256 = \(k * (hidden / 256)) down sums in one PSUM bank (512)"
            }
        }
        let downTile = configuration[Self.downTile]
        if configuration[Self.weights] == .stationary {
            if hidden > 128 && hidden / 128 > 32 {
                return "weights=stationary keeps H/128=\(hidden / 128) columns per partition; at most 32"
            }
            if configuration[Self.gateUp] != .fused {
                return "gate_up=separate has no effect with weights=stationary (one contiguous DMA loads both)"
            }
            if downTile != 256 {
                return "down_tile has no effect with weights=stationary (the down projection runs in 128-row tiles)"
            }
        }
        if downTile > 256 && hidden <= 256 { return "down_tile=\(downTile) is redundant: 256 covers H=\(hidden)" }
        return nil
    }

    /// Random logical inputs, the operands as the reference takes them.
    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let (tokens, hidden, columns, experts, k) = ExpertShape(problem).dimensions
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

    /// What the kernel must compute, written plainly.
    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        let (tokens, hidden, columns, _, k) = ExpertShape(problem).dimensions
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

    /// See ``ExpertShape/reduced(_:downTile:)``.
    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem {
        ExpertShape.reduced(problem, downTile: configuration[Self.downTile])
    }
}
