import Foundation

/// Decode attention: one query token per head against a KV cache of `S` positions, grouped-query
/// (`heads / kv_heads` query heads share a KV head). Scores `q K^T / sqrt(d)` are fp32, softmax is
/// fp32, probabilities are rounded to bf16 for `P V`, the output is bf16.
///
/// Numerics-changing parameters: `normalise` (divide P by its sum before `P V`, or the bf16 output
/// of unnormalised `P V` after) and `pv_splits` (`P V` summed in that many partial PSUM groups, then
/// added in fp32: the split-S reduction order). The others only move data or change engines.
public struct AttentionDecodeTemplate: AttentionTemplate {
    /// Creates a value with every field given.
    public init() {}

    /// The identifier on the command line and in cache keys.
    public let id = "attention-decode"
    /// One line on what the kernel computes.
    public let summary = "one query token per head against a KV cache (grouped-query attention)"

    /// Where P is normalised and how P V is split over S.
    public var numericParameters: Set<String> { [Self.normalise.parameter.name, Self.pvSplits.parameter.name] }

    static let sTile = IntKey("s_tile", [128, 256, 512], default: 512, "cached positions per score matmul")
    static let bufs = IntKey("bufs", [1, 2, 3, 4, 8], default: 2, "rotating copies of each K/V chunk")
    static let kLayout = ChoiceKey<OperandLayout>(
        "k_layout", [.pretransposed, .dmaTranspose, .tensorTranspose], default: .pretransposed,
        "K cache stored as [d, S], or transposed in the kernel by DMA or TensorE")
    static let scaleEngine = ChoiceKey<Engine>(
        "scale_engine", [.scalar, .vector], default: .scalar, "engine that scales the scores")
    static let normalise = ChoiceKey<NormalisePoint>(
        "normalise", [.before, .after], default: .before,
        "divide P by its sum before P V, or divide the output after (changes numerics)")
    static let pvSplits = IntKey(
        "pv_splits", [1, 2, 4], default: 1, "partial sums of P V over S, added in fp32 (changes the reduction order)")

    /// The problem's dimensions and options, in order.
    public var problemFields: [ProblemField] { AttentionShape.fields }

    /// The tunable parameters with their built-in domains and defaults.
    public var parameters: [Parameter] {
        [
            Self.sTile.parameter, Self.bufs.parameter, Self.kLayout.parameter, Self.scaleEngine.parameter,
            Self.normalise.parameter, Self.pvSplits.parameter, AttentionShape.split.parameter,
        ]
    }

    /// The problem, unpacked once.
    typealias Shape = AttentionShape

    /// Small problems the test suite checks this template on, including sizes that do not divide its tiles.
    public var checkProblems: [String] {
        [
            "S=200,heads=4,kv_heads=1,d=64", "S=384,heads=8,kv_heads=2,d=128", "S=200,heads=4,kv_heads=2,d=64,lnc=2",
        ]
    }
    /// A problem to show this template on.
    public var demoProblem: String { "S=300,heads=8,kv_heads=1,d=128" }
    /// The buffer counts are the compiler's on hardware (see ``CompilerHint/bufferCopies``).
    public var compilerHints: [String: String] { [Self.bufs.parameter.name: CompilerHint.bufferCopies] }

    /// Multiply-accumulates of one call.
    public func macs(for problem: Problem) -> Int {
        let shape = Shape(problem)
        return 2 * shape.heads * shape.positions * shape.headDim
    }

    /// Why a configuration is not a sensible variant of this problem, or nil if it is.
    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        if let reason = AttentionShape.splitRestriction(configuration, for: problem) { return reason }
        let shape = Shape(AttentionShape.coreProblem(problem, configuration))
        let positions = shape.positions
        if let reason = shape.restriction { return reason }
        if shape.heads / shape.keyValueHeads > 128 { return "more than 128 query heads share a KV head" }
        let tile = configuration[Self.sTile]
        if let reason = KernelIdioms.redundantTile("s_tile", tile, covering: positions, dimension: "S", smallest: 128) {
            return reason
        }
        let chunks = (positions + 127) / 128
        let splits = configuration[Self.pvSplits]
        if splits > chunks { return "pv_splits=\(splits) exceeds the \(chunks) chunks of 128 positions" }
        return nil
    }

    /// Random logical inputs, the operands as the reference takes them.
    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let shape = Shape(problem)
        let (positions, heads, kvHeads, d) = (shape.positions, shape.heads, shape.keyValueHeads, shape.headDim)
        return [
            HostTensor.random([heads, d], dtype: .bf16, seed: seed),
            HostTensor.random([kvHeads * positions, d], dtype: .bf16, seed: seed &+ 1),
            HostTensor.random([kvHeads * positions, d], dtype: .bf16, seed: seed &+ 2),
        ]
    }

    /// The kernel's arguments for logical inputs, in the configuration's layouts.
    public func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor] {
        guard configuration[Self.kLayout] == .pretransposed else { return inputs }
        let shape = Shape(problem)
        // [kv_heads * S, d] -> [kv_heads * d, S]: each KV head's block transposed.
        return [
            inputs[0], Self.transposeBlocks(inputs[1], blockRows: shape.positions, d: shape.headDim), inputs[2],
        ]
    }

    /// Transposes each `[blockRows, d]` block of a `[blocks * blockRows, d]` tensor to `[d, blockRows]`.
    static func transposeBlocks(_ tensor: HostTensor, blockRows: Int, d: Int) -> HostTensor {
        let blocks = tensor.shape[0] / blockRows
        var data = [Float](repeating: 0, count: tensor.data.count)
        for block in 0..<blocks {
            for row in 0..<blockRows {
                for column in 0..<d {
                    data[block * d * blockRows + column * blockRows + row] =
                        tensor.data[(block * blockRows + row) * d + column]
                }
            }
        }
        return HostTensor(shape: [blocks * d, blockRows], data: data)
    }

    /// What the kernel must compute, written plainly.
    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        let shape = Shape(problem)
        let (positions, heads, kvHeads, d) = (shape.positions, shape.heads, shape.keyValueHeads, shape.headDim)
        let group = heads / kvHeads
        let scale = 1 / Foundation.sqrt(Double(d))
        var out = [Float](repeating: 0, count: heads * d)
        for head in 0..<heads {
            let kv = head / group
            var scores = [Double](repeating: 0, count: positions)
            for position in 0..<positions {
                var dot = 0.0
                for index in 0..<d {
                    dot +=
                        Double(inputs[0].data[head * d + index])
                        * Double(inputs[1].data[(kv * positions + position) * d + index])
                }
                scores[position] = dot * scale
            }
            let largest = scores.max() ?? 0
            let exponentials = scores.map { Foundation.exp($0 - largest) }
            let total = exponentials.reduce(0, +)
            let probabilities = exponentials.map { Double(DType.roundToBF16(Float($0 / total))) }
            for index in 0..<d {
                var sum = 0.0
                for position in 0..<positions {
                    sum += probabilities[position] * Double(inputs[2].data[(kv * positions + position) * d + index])
                }
                out[head * d + index] = DType.roundToBF16(Float(sum))
            }
        }
        return [HostTensor(shape: [heads, d], data: out)]
    }

    /// A smaller problem with the same program structure, for numeric checks.
    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem { problem }
}
