import Foundation

/// `Y[M, N] = act(X[M, K] W[K, N])`, bf16 (or fp32) in and out, fp32 accumulation.
///
/// The program tiles M, K and N (`tile_*`), groups tiles into blocks (`block_*`) so a loaded block
/// of X or W serves several matrix products, runs the three block loops in `loop_order`, loads each
/// operand block just inside the innermost block loop it depends on, rotates load buffers (`x_bufs`, `w_bufs`), evicts PSUM on `evict_engine`, and gets X transposed (K on partitions) by the caller,
/// by TensorE, or by DMA. When K spans several blocks, partial products accumulate in an fp32 SBUF
/// buffer covering the blocks live inside the K-block loop and are written after it.
///
/// ```swift
/// let template = LinearTemplate()
/// let problem = try template.parseProblem("M=640,K=2048,N=768")
/// let program = template.program(for: problem, configuration: template.defaultConfiguration)
/// ```
public struct LinearTemplate: KernelTemplate {
    /// The general `linear` kernel.
    public init() {
        self.init(id: "linear", summary: "Y = act(X W): tiled, blocked matrix product with fused activation")
    }

    /// The same machinery under another name, for a product of the model (`o-proj`, `lm-head`).
    public init(id: String, summary: String, fusesNorm: Bool = false) {
        self.id = id
        self.summary = summary
        self.fusesNorm = fusesNorm
    }

    /// The q/k/v projection of Qwen3-MoE: hidden -> (q heads + 2 KV heads) x head_dim, optionally
    /// normalising its input rows first (`norm=1`, a fused input RMSNorm).
    public static let qkvProjection = LinearTemplate(
        id: "qkv", summary: "q/k/v projection with an optional fused input RMSNorm (norm=1)", fusesNorm: true)

    /// Whether the problem has a `norm` option (a fused RMSNorm of X's rows before the product).
    public let fusesNorm: Bool

    /// The attention output projection of Qwen3-MoE: heads x head_dim -> hidden size.
    public static let outputProjection = LinearTemplate(
        id: "o-proj", summary: "attention output projection (q heads x head_dim -> hidden), a linear product")

    /// The language-model head: hidden size -> this rank's slice of the vocabulary.
    public static let languageModelHead = LinearTemplate(
        id: "lm-head", summary: "hidden -> vocabulary slice logits, the model's largest product")

    public let id: String
    public let summary: String

    /// K tiling sets the order of the fp32 sums; `block_*`, `tile_n` and `loop_order` decide whether
    /// partial sums stay in PSUM or are added in SBUF; `acc_dtype` rounds them.
    public let numericParameters: Set<String> = [
        "tile_k", "block_k", "loop_order", "acc_dtype", "block_m", "block_n", "tile_n",
    ]

    public var problemFields: [ProblemField] {
        var fields = [
            ProblemField("M", .size), ProblemField("K", .size), ProblemField("N", .size),
            ProblemField("act", .choice(["none", "silu"]), default: .choice("none")),
            ProblemField("dtype", .choice(["bf16", "fp32"]), default: .choice("bf16")),
        ]
        if fusesNorm { fields.append(ProblemField("norm", .choice(["0", "1"]), default: .choice("0"))) }
        return fields
    }

    /// Whether this problem normalises X's rows in the kernel.
    static func normalises(_ problem: Problem) -> Bool {
        problem.names.contains("norm") && problem.choice("norm") == "1"
    }

    /// The six orders of the block loops, outermost first.
    public static let loopOrders = ["mnk", "mkn", "nmk", "nkm", "kmn", "knm"]

    public let parameters: [Parameter] = [
        Parameter("tile_m", .ints([32, 64, 128]), default: .int(128), "rows of X per matmul (stationary free size)"),
        Parameter("tile_k", .ints([32, 64, 128]), default: .int(128), "contraction per matmul (partitions)"),
        Parameter("tile_n", .ints([128, 256, 512]), default: .int(512), "columns of W per matmul (moving free size)"),
        Parameter("block_m", .ints([1, 2, 4, 8, 16]), default: .int(1), "M tiles per block"),
        Parameter("block_k", .ints([1, 2, 4, 8, 16, 32, 64]), default: .int(1), "K tiles per block"),
        Parameter("block_n", .ints([1, 2, 4, 8, 16]), default: .int(1), "N tiles per block"),
        Parameter(
            "loop_order", .choices(loopOrders), default: .choice("mnk"), "order of the block loops, outermost first"),
        Parameter("x_bufs", .ints([1, 2, 3]), default: .int(2), "rotating copies of the loaded X block"),
        Parameter("w_bufs", .ints([1, 2, 3]), default: .int(2), "rotating copies of the loaded W block"),
        Parameter(
            "acc_dtype", .choices(["fp32", "bf16"]), default: .choice("fp32"),
            "SBUF accumulator type when K spans several blocks (bf16 halves its footprint, rounds partial sums)"),
        Parameter(
            "evict_engine", .choices(["vector", "scalar", "gpsimd"]), default: .choice("vector"),
            "engine that moves PSUM to SBUF"),
        Parameter(
            "x_layout", .choices(["pretransposed", "tensor_transpose", "dma_transpose"]),
            default: .choice("pretransposed"), "X passed as X^T, or transposed in the kernel by TensorE or DMA"),
    ]

    public func macs(for problem: Problem) -> Int {
        problem.size("M") * problem.size("K") * problem.size("N")
    }

    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        for dimension in ["m", "k", "n"] {
            let size = problem.size(dimension.uppercased())
            let tile = configuration.int("tile_\(dimension)")
            let block = configuration.int("block_\(dimension)")
            if let reason = KernelIdioms.redundantTile(
                "tile_\(dimension)", tile, covering: size, dimension: dimension.uppercased(),
                smallest: minimumTile(dimension))
            {
                return reason
            }
            if block > 1 && (block / 2) * tile >= size {
                return "block_\(dimension)=\(block) is redundant: block_\(dimension)=\(block / 2) already covers "
                    + "\(dimension.uppercased())=\(size) with tile_\(dimension)=\(tile)"
            }
        }
        let kBlocks = ceilDiv(problem.size("K"), configuration.int("tile_k") * configuration.int("block_k"))
        if Self.normalises(problem) {
            if configuration.choice("x_layout") != "tensor_transpose" {
                return "norm=1 normalises X's rows in SBUF: x_layout must be tensor_transpose"
            }
            if kBlocks > 1 { return "norm=1 needs whole rows: block_k * tile_k must cover K=\(problem.size("K"))" }
        }
        if configuration.choice("acc_dtype") == "bf16" && problem.choice("dtype") == "fp32" {
            return "acc_dtype=bf16 would round an fp32 problem's partial sums"
        }
        let inPSUM = LinearProgramBuilder.accumulatesInPSUM(problem: problem, configuration: configuration)
        if configuration.choice("acc_dtype") == "bf16" && (kBlocks == 1 || inPSUM) {
            return "acc_dtype=bf16 has no effect: partial sums stay in PSUM"
        }
        if kBlocks > 1 && configuration.choice("evict_engine") == "scalar" && !inPSUM {
            return "evict_engine=scalar cannot add partial sums in SBUF across K blocks; use vector or gpsimd"
        }
        return nil
    }

    private func minimumTile(_ dimension: String) -> Int {
        guard case .ints(let values) = parameters.first(where: { $0.name == "tile_\(dimension)" })!.domain else {
            return 0
        }
        return values.min() ?? 0
    }

    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let dtype: DType = problem.choice("dtype") == "fp32" ? .fp32 : .bf16
        let (m, k, n) = (problem.size("M"), problem.size("K"), problem.size("N"))
        var inputs = [
            HostTensor.random([m, k], dtype: dtype, seed: seed),
            HostTensor.random([k, n], dtype: dtype, seed: seed &+ 1),
        ]
        if Self.normalises(problem) { inputs.append(HostTensor.random([1, k], dtype: .bf16, seed: seed &+ 2)) }
        return inputs
    }

    public func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor] {
        configuration.choice("x_layout") == "pretransposed" ? [Self.transposed(inputs[0])] + inputs.dropFirst() : inputs
    }

    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        let dtype: DType = problem.choice("dtype") == "fp32" ? .fp32 : .bf16
        let (m, k, n) = (problem.size("M"), problem.size("K"), problem.size("N"))
        let w = inputs[1]
        let x = Self.normalises(problem) ? Self.normalised(inputs[0], weight: inputs[2].data) : inputs[0]
        let function: ActivationFunction = problem.choice("act") == "silu" ? .silu : .copy
        var y = [Float](repeating: 0, count: m * n)
        var sums = [Double](repeating: 0, count: n)
        for row in 0..<m {
            for column in 0..<n { sums[column] = 0 }
            for inner in 0..<k {
                let a = Double(x.data[row * k + inner])
                let offset = inner * n
                for column in 0..<n { sums[column] += a * Double(w.data[offset + column]) }
            }
            for column in 0..<n { y[row * n + column] = dtype.round(function.apply(Float(sums[column]))) }
        }
        return [HostTensor(shape: [m, n], data: y)]
    }

    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem {
        var small = problem
        for dimension in ["m", "k", "n"] {
            let size = problem.size(dimension.uppercased())
            let extent = configuration.int("tile_\(dimension)") * configuration.int("block_\(dimension)")
            let reduced = KernelIdioms.checkSize(size, extent: extent)
            small = small.with(dimension.uppercased(), reduced)
        }
        return small
    }

    /// Hugging Face's RMSNorm of each row: `bf16(weight * bf16(x / rms(x)))`.
    static func normalised(_ x: HostTensor, weight: [Float]) -> HostTensor {
        let (rows, columns) = (x.shape[0], x.shape[1])
        var data = x.data
        for row in 0..<rows {
            var total: Float = 0
            for column in 0..<columns { total += x.data[row * columns + column] * x.data[row * columns + column] }
            let scale = Foundation.pow(total / Float(columns) + RMSNormTemplate.epsilon, -0.5)
            for column in 0..<columns {
                data[row * columns + column] = DType.roundToBF16(
                    weight[column] * DType.roundToBF16(x.data[row * columns + column] * scale))
            }
        }
        return HostTensor(shape: x.shape, data: data)
    }

    static func transposed(_ tensor: HostTensor) -> HostTensor {
        let (rows, columns) = (tensor.shape[0], tensor.shape[1])
        var data = [Float](repeating: 0, count: rows * columns)
        for row in 0..<rows {
            for column in 0..<columns { data[column * rows + row] = tensor.data[row * columns + column] }
        }
        return HostTensor(shape: [columns, rows], data: data)
    }

    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        var builder = LinearProgramBuilder(
            problem: problem, configuration: configuration,
            kernelName: String(id.map { $0 == "-" ? "_" : $0 }) + "_kernel")
        return builder.build()
    }
}

func ceilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }
