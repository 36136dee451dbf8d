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

    public let problemFields: [ProblemField] = [
        ProblemField("T", .size), ProblemField("H", .size),
        ProblemField("residual", .choice(["0", "1"]), default: .choice("0")),
    ]

    public let parameters: [Parameter] = [
        Parameter("tile_t", .ints([32, 64, 128]), default: .int(128), "tokens per tile (partitions)"),
        Parameter("bufs", .ints([1, 2, 3]), default: .int(2), "rotating copies of each token tile"),
        Parameter(
            "square", .choices(["scalar", "vector"]), default: .choice("scalar"),
            "sum of squares on ScalarE (activation_reduce) or VectorE (multiply, reduce)"),
        Parameter(
            "scale_engine", .choices(["vector", "gpsimd"]), default: .choice("vector"), "engine that applies 1/rms"),
        Parameter(
            "weight_engine", .choices(["vector", "gpsimd"]), default: .choice("vector"),
            "engine that applies the weight"),
        Parameter(
            "add_engine", .choices(["vector", "gpsimd"]), default: .choice("vector"), "engine of the residual add"),
    ]

    public func macs(for problem: Problem) -> Int { 0 }

    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        let tile = configuration.int("tile_t")
        let tokens = problem.size("T")
        if let reason = KernelIdioms.redundantTile("tile_t", tile, covering: tokens, dimension: "T", smallest: 32) {
            return reason
        }
        if problem.choice("residual") == "0" && configuration.choice("add_engine") != "vector" {
            return "add_engine has no effect without a residual"
        }
        return nil
    }

    private func hasResidual(_ problem: Problem) -> Bool { problem.choice("residual") == "1" }

    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let (tokens, hidden) = (problem.size("T"), problem.size("H"))
        var inputs = [HostTensor.random([tokens, hidden], dtype: .bf16, seed: seed)]
        if hasResidual(problem) { inputs.append(HostTensor.random([tokens, hidden], dtype: .bf16, seed: seed &+ 1)) }
        inputs.append(HostTensor.random([1, hidden], dtype: .bf16, seed: seed &+ 2))
        return inputs
    }

    public func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor] {
        inputs
    }

    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        let (tokens, hidden) = (problem.size("T"), problem.size("H"))
        let residual = hasResidual(problem)
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
        let tokens = problem.size("T")
        let tile = configuration.int("tile_t")
        let reduced = KernelIdioms.checkSize(tokens, extent: tile)
        return problem.with("T", reduced)
    }

    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        let (tokens, hidden) = (problem.size("T"), problem.size("H"))
        let tile = configuration.int("tile_t")
        let bufs = configuration.int("bufs")
        let residual = hasResidual(problem)
        let engine = { (name: String) in Engine(rawValue: configuration.choice(name)) ?? .vector }
        var b = ProgramBuilder()
        let x = b.buffer("x", .hbm, [tokens, hidden], .bf16, role: .input(0))
        let r = residual ? b.buffer("residual", .hbm, [tokens, hidden], .bf16, role: .input(1)) : nil
        let g = b.buffer("weight", .hbm, [1, hidden], .bf16, role: .input(residual ? 2 : 1))
        let y = b.buffer("y", .hbm, [tokens, hidden], .bf16, role: .output)
        let s = residual ? b.buffer("residual_sum", .hbm, [tokens, hidden], .bf16, role: .output) : nil
        let weight = b.buffer("weight_rows", .sbuf, [tile, hidden], .bf16)
        let xTile = b.buffer("x_tile", .sbuf, [tile, hidden], .bf16, copies: bufs)
        let rTile = residual ? b.buffer("residual_tile", .sbuf, [tile, hidden], .bf16, copies: bufs) : nil
        let sTile = residual ? b.buffer("sum_tile", .sbuf, [tile, hidden], .bf16, copies: bufs) : nil
        let squares = b.buffer("squares", .sbuf, [tile, hidden], .fp32, copies: bufs)
        let total = b.buffer("sum_squares", .sbuf, [tile, 1], .fp32, copies: bufs)
        let scale = b.buffer("inverse_rms", .sbuf, [tile, 1], .fp32, copies: bufs)
        let normal = b.buffer("normalised", .sbuf, [tile, hidden], .bf16, copies: bufs)
        let yTile = b.buffer("y_tile", .sbuf, [tile, hidden], .bf16, copies: bufs)
        let t = b.variable("t")
        let rowStart = Affine.term(t, tile)
        let limit: Affine? = tokens % tile == 0 ? nil : .const(tokens) + (-rowStart)
        let rows = AffineRange(start: .const(0), size: tile, limit: limit)
        let global = AffineRange(start: rowStart, size: tile, limit: limit)
        let columns = AffineRange.full(hidden)
        func onChip(_ buffer: BufferDecl) -> Access { Access(buffer, [rows, columns]) }
        func column(_ buffer: BufferDecl) -> Access { Access(buffer, [rows, .full(1)]) }
        let loadWeight = Access(weight, [.full(tile), columns])
        var body: [Stmt] = [
            .allocate(xTile.id), .op(.dma(dst: onChip(xTile), src: Access(x, [global, columns]), queue: 0)),
        ]
        var source = onChip(xTile)
        if let r, let rTile, let sTile, let s {
            body += [
                .allocate(rTile.id), .op(.dma(dst: onChip(rTile), src: Access(r, [global, columns]), queue: 1)),
                .allocate(sTile.id),
                .op(
                    .tensorTensor(
                        dst: onChip(sTile), a: onChip(xTile), b: onChip(rTile), op: .add, engine: engine("add_engine"))),
                .op(.dma(dst: Access(s, [global, columns]), src: onChip(sTile), queue: 2)),
            ]
            source = onChip(sTile)
        }
        body += [.allocate(squares.id), .allocate(total.id)]
        if configuration.choice("square") == "scalar" {
            body.append(.op(.activation(dst: onChip(squares), src: source, function: .square, reduce: column(total))))
        } else {
            body += [
                .op(.tensorTensor(dst: onChip(squares), a: source, b: source, op: .multiply, engine: .vector)),
                .op(.tensorReduce(dst: column(total), src: onChip(squares), op: .add)),
            ]
        }
        body += [
            .allocate(scale.id),
            .op(
                .tensorScalar(
                    dst: column(scale), src: column(total),
                    steps: [
                        ScalarStep(.divide, .immediate(Float(hidden))), ScalarStep(.add, .immediate(Self.epsilon)),
                    ],
                    engine: .vector)),
            .op(
                .tensorScalar(
                    dst: column(scale), src: column(scale), steps: [ScalarStep(.power, .immediate(-0.5))],
                    engine: .vector)),
            .allocate(normal.id),
            .op(
                .tensorScalar(
                    dst: onChip(normal), src: source, steps: [ScalarStep(.multiply, .perPartition(column(scale)))],
                    engine: engine("scale_engine"))),
            .allocate(yTile.id),
            .op(
                .tensorTensor(
                    dst: onChip(yTile), a: onChip(normal), b: Access(weight, [rows, columns]), op: .multiply,
                    engine: engine("weight_engine"))),
            .op(.dma(dst: Access(y, [global, columns]), src: onChip(yTile), queue: 2)),
        ]
        let prologue: [Stmt] = [
            .allocate(weight.id),
            .op(.dma(dst: loadWeight, src: Access(g, [.broadcast(.const(0), count: tile), columns]), queue: 1)),
        ]
        let loop = Stmt.loop(Loop(t, trips: (tokens + tile - 1) / tile, body: body))
        return b.program(name: "rmsnorm_kernel", body: prologue + [loop])
    }
}
