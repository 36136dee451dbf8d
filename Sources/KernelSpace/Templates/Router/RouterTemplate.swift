/// The MoE router: `logits = x W` in fp32 (tokens on PSUM partitions), softmax over the experts,
/// the top `k` (at most 8, one `max8`), renormalised to sum to one. Returns the weights (fp32) and
/// the expert indices (int32), largest weight first.
///
/// `softmax=full` divides by the sum over all experts before choosing, as Hugging Face's
/// `Qwen3MoeSparseMoeBlock` does; `softmax=topk` chooses on the exponentials and divides once by
/// their top-k sum: mathematically the same weights, rounded differently (it changes numerics).
public struct RouterTemplate: KernelTemplate {
    public init() {}

    public let id = "router"
    public let summary = "router logits (fp32), softmax, top-k (max8 / find_index8), renormalised weights"

    /// Normalising over all experts first rounds differently.
    public let numericParameters: Set<String> = ["softmax"]

    public let problemFields: [ProblemField] = [
        ProblemField("T", .size), ProblemField("H", .size), ProblemField("E", .size),
        ProblemField("k", .size, default: .int(8)),
    ]

    public let parameters: [Parameter] = [
        Parameter("tile_t", .ints([32, 64, 128]), default: .int(128), "tokens per tile (PSUM partitions)"),
        Parameter("bufs", .ints([1, 2, 3]), default: .int(2), "rotating copies of each token tile"),
        Parameter(
            "x_layout", .choices(["tensor_transpose", "dma_transpose"]), default: .choice("tensor_transpose"),
            "how x gets the hidden size onto partitions"),
        Parameter(
            "softmax", .choices(["full", "topk"]), default: .choice("full"),
            "normalise over all experts before top-k, or only the top-k (changes rounding)"),
        Parameter(
            "normalise_engine", .choices(["vector", "gpsimd"]), default: .choice("vector"), "engine of the divisions"),
    ]

    public func macs(for problem: Problem) -> Int { problem.size("T") * problem.size("H") * problem.size("E") }

    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        if problem.size("k") > 8 { return "k=\(problem.size("k")) needs more than one max8 (k <= 8)" }
        if problem.size("E") < 8 { return "E=\(problem.size("E")) is fewer than the 8 values max8 returns" }
        let tile = configuration.int("tile_t")
        let tokens = problem.size("T")
        if let reason = KernelIdioms.redundantTile("tile_t", tile, covering: tokens, dimension: "T", smallest: 32) {
            return reason
        }
        return nil
    }

    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        [
            HostTensor.random([problem.size("T"), problem.size("H")], dtype: .bf16, seed: seed),
            HostTensor.random([problem.size("H"), problem.size("E")], dtype: .bf16, seed: seed &+ 1),
        ]
    }

    public func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor] {
        inputs
    }

    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        let (tokens, hidden, experts, k) = (problem.size("T"), problem.size("H"), problem.size("E"), problem.size("k"))
        var weights: [Float] = []
        var indices: [Float] = []
        for row in 0..<tokens {
            var logits = [Double](repeating: 0, count: experts)
            for inner in 0..<hidden {
                let a = Double(inputs[0].data[row * hidden + inner])
                for expert in 0..<experts { logits[expert] += a * Double(inputs[1].data[inner * experts + expert]) }
            }
            let largest = logits.max() ?? 0
            let exponentials = logits.map { exp($0 - largest) }
            let total = exponentials.reduce(0, +)
            let order = exponentials.indices.sorted { exponentials[$0] > exponentials[$1] }.prefix(k)
            let chosen = order.map { exponentials[$0] / total }
            let sum = chosen.reduce(0, +)
            weights += chosen.map { Float($0 / sum) }
            indices += order.map { Float($0) }
        }
        return [HostTensor(shape: [tokens, k], data: weights), HostTensor(shape: [tokens, k], data: indices)]
    }

    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem {
        let tokens = problem.size("T")
        let tile = configuration.int("tile_t")
        return problem.with("T", KernelIdioms.checkSize(tokens, extent: tile))
    }

    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        let (tokens, hidden, experts, k) = (problem.size("T"), problem.size("H"), problem.size("E"), problem.size("k"))
        let tile = configuration.int("tile_t")
        let bufs = configuration.int("bufs")
        let normaliser = Engine(rawValue: configuration.choice("normalise_engine")) ?? .vector
        let hiddenTiles = (hidden + 127) / 128
        var b = ProgramBuilder()
        let x = b.buffer("x", .hbm, [tokens, hidden], .bf16, role: .input(0))
        let w = b.buffer("router_weight", .hbm, [hidden, experts], .bf16, role: .input(1))
        let weightsOut = b.buffer("topk_weights", .hbm, [tokens, k], .fp32, role: .output)
        let indicesOut = b.buffer("topk_experts", .hbm, [tokens, k], .int32, role: .output)
        let wSBUF = b.buffer("weight_sb", .sbuf, [128, hiddenTiles, experts], .bf16)
        let xT = b.buffer("x_t", .sbuf, [128, hiddenTiles, tile], .bf16, copies: bufs)
        let logits = b.buffer("logits", .psum, [tile, experts], .fp32, copies: 2)
        let largest = b.buffer("row_max", .sbuf, [tile, 1], .fp32, copies: bufs)
        let negated = b.buffer("neg_max", .sbuf, [tile, 1], .fp32, copies: bufs)
        let total = b.buffer("row_sum", .sbuf, [tile, 1], .fp32, copies: bufs)
        let exponentials = b.buffer("exp_logits", .sbuf, [tile, experts], .fp32, copies: bufs)
        let top = b.buffer("top8", .sbuf, [tile, 8], .fp32, copies: bufs)
        let topIndex = b.buffer("top8_index", .sbuf, [tile, 8], .int32, copies: bufs)
        let topSum = b.buffer("top_sum", .sbuf, [tile, 1], .fp32, copies: bufs)
        let topWeights = b.buffer("top_weights", .sbuf, [tile, k], .fp32, copies: bufs)
        let t = b.variable("t")
        let h = b.variable("h")
        let lh = b.variable("lh")
        let rowStart = Affine.term(t, tile)
        let rowLimit: Affine? = tokens % tile == 0 ? nil : .const(tokens) + (-rowStart)
        let rows = AffineRange(start: .const(0), size: tile, limit: rowLimit)
        let globalRows = AffineRange(start: rowStart, size: tile, limit: rowLimit)
        func hiddenRange(_ variable: LoopVar, global: Bool) -> AffineRange {
            let start = Affine.term(variable, 128)
            let limit: Affine? = hidden % 128 == 0 ? nil : .const(hidden) + (-start)
            return AffineRange(start: global ? start : .const(0), size: 128, limit: limit)
        }
        let loadWeight = Loop(
            lh, trips: hiddenTiles,
            body: [
                .op(
                    .dma(
                        dst: Access(wSBUF, [hiddenRange(lh, global: false), .index(.term(lh)), .full(experts)]),
                        src: Access(w, [hiddenRange(lh, global: true), .full(experts)]), queue: 1))
            ])
        var body: [Stmt] = [.allocate(xT.id)]
        let xTile = Access(xT, [hiddenRange(h, global: false), .index(.term(h)), rows])
        if configuration.choice("x_layout") == "dma_transpose" {
            body.append(
                .loop(
                    Loop(
                        h, trips: hiddenTiles,
                        body: [
                            .op(
                                .dmaTranspose(
                                    dst: xTile, src: Access(x, [globalRows, hiddenRange(h, global: true)]), queue: 0))
                        ])))
        } else {
            let rowsBuffer = b.buffer("x_rows", .sbuf, [tile, hidden], .bf16, copies: bufs)
            let flipped = b.buffer("x_t_psum", .psum, [128, tile], .fp32, copies: 2)
            let transposed = Access(flipped, [hiddenRange(h, global: false), rows])
            body += [
                .allocate(rowsBuffer.id),
                .op(
                    .dma(
                        dst: Access(rowsBuffer, [rows, .full(hidden)]), src: Access(x, [globalRows, .full(hidden)]),
                        queue: 0)),
                .loop(
                    Loop(
                        h, trips: hiddenTiles,
                        body: [
                            .allocate(flipped.id),
                            .op(
                                .transpose(
                                    dst: transposed, src: Access(rowsBuffer, [rows, hiddenRange(h, global: true)]))),
                            .op(.copy(dst: xTile, src: transposed, engine: .vector)),
                        ])),
            ]
        }
        let scores = Access(logits, [rows, .full(experts)])
        func column(_ buffer: BufferDecl) -> Access { Access(buffer, [rows, .full(1)]) }
        let chosen = AffineRange(start: .const(0), size: k)
        body += [
            .allocate(logits.id),
            .loop(
                Loop(
                    h, trips: hiddenTiles,
                    body: [
                        .op(
                            .matmul(
                                dst: scores, stationary: xTile,
                                moving: Access(
                                    wSBUF, [hiddenRange(h, global: false), .index(.term(h)), .full(experts)]),
                                accumulation: .acrossLoops([h.id])))
                    ])),
        ]
        body += KernelIdioms.softmaxNumerator(
            scores: scores, exponentials: Access(exponentials, [rows, .full(experts)]), largest: column(largest),
            negated: column(negated), total: column(total))
        let probabilities = Access(exponentials, [rows, .full(experts)])
        if configuration.choice("softmax") == "full" {
            body.append(
                .op(
                    .tensorScalar(
                        dst: probabilities, src: probabilities,
                        steps: [ScalarStep(.divide, .perPartition(column(total)))],
                        engine: normaliser)))
        }
        body += [
            .allocate(top.id), .op(.max8(dst: Access(top, [rows, .full(8)]), src: probabilities)),
            .allocate(topIndex.id),
            .op(
                .findIndex8(
                    dst: Access(topIndex, [rows, .full(8)]), data: probabilities, values: Access(top, [rows, .full(8)]))
            ),
            .allocate(topSum.id), .op(.tensorReduce(dst: column(topSum), src: Access(top, [rows, chosen]), op: .add)),
            .allocate(topWeights.id),
            .op(
                .tensorScalar(
                    dst: Access(topWeights, [rows, chosen]), src: Access(top, [rows, chosen]),
                    steps: [ScalarStep(.divide, .perPartition(column(topSum)))], engine: normaliser)),
            .op(
                .dma(dst: Access(weightsOut, [globalRows, chosen]), src: Access(topWeights, [rows, chosen]), queue: 2)),
            .op(.dma(dst: Access(indicesOut, [globalRows, chosen]), src: Access(topIndex, [rows, chosen]), queue: 2)),
        ]
        let prologue: [Stmt] = [.allocate(wSBUF.id), .loop(loadWeight)]
        return b.program(
            name: "router_kernel", body: prologue + [.loop(Loop(t, trips: (tokens + tile - 1) / tile, body: body))])
    }
}

#if canImport(Glibc)
    import Glibc
#else
    import Darwin
#endif
