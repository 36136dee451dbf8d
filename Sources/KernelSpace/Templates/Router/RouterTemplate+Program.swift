/// The program of a ``RouterTemplate`` configuration: x transposed onto partitions, fp32 logits in
/// PSUM, softmax, `max8` and `nc_find_index8`, renormalised top-k weights.
extension RouterTemplate {
    /// The tile program of a configuration that passes the restrictions.
    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        guard configuration[Self.split] == .tokens else {
            return coreProgram(for: problem, configuration: configuration)
        }
        // The rows of x and of both outputs are sliced; the router weight is every core's.
        return CoreSharing.splittingRows(problem, tokens: Self.tokens, shared: ["router_weight"]) { half in
            coreProgram(for: half, configuration: configuration)
        }
    }

    /// One core's program.
    private func coreProgram(for problem: Problem, configuration: Configuration) -> KernelProgram {
        let shape = Shape(problem)
        let (tokens, hidden, experts, k) = (shape.tokens, shape.hidden, shape.experts, shape.k)
        let tile = configuration[Self.tileT]
        let bufs = configuration[Self.bufs]
        let normaliser = configuration[Self.normaliseEngine]
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
        let topSum = normaliseTopK ? b.buffer("top_sum", .sbuf, [tile, 1], .fp32, copies: bufs) : nil
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
        let interleaved = configuration[Self.hiddenOrder] == .interleaved
        let interleavedColumns = AffineRange(start: .term(h), size: 128, stride: hiddenTiles)
        // Interleaved, one DMA streams W into [128, H/128, E] (row p * H/128 + f at [p, f]).
        let loadWeight: Stmt =
            interleaved
            ? .op(
                .dma(
                    dst: Access(wSBUF, [.full(128), .full(hiddenTiles), .full(experts)]),
                    src: Access(w, [.full(hidden), .full(experts)]), queue: 1))
            : .loop(
                Loop(
                    lh, trips: hiddenTiles,
                    body: [
                        .op(
                            .dma(
                                dst: Access(
                                    wSBUF, [hiddenRange(lh, global: false), .index(.term(lh)), .full(experts)]),
                                src: Access(w, [hiddenRange(lh, global: true), .full(experts)]), queue: 1))
                    ]))
        var body: [Stmt] = [.allocate(xT.id)]
        let xTile = Access(xT, [hiddenRange(h, global: false), .index(.term(h)), rows])
        if interleaved && tile <= 32 {
            // Each token's row streams into its column of x^T in the same interleaved order.
            body.append(
                .loop(
                    Loop(
                        lh, trips: tile, limit: rowLimit,
                        body: [
                            .op(
                                .dma(
                                    dst: Access(xT, [.full(128), .full(hiddenTiles), .index(.term(lh))]),
                                    src: Access(x, [.index(rowStart + .term(lh)), .full(hidden)]), queue: 0))
                        ])))
        } else if configuration[Self.xLayout] == .dmaTranspose {
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
                                    dst: transposed,
                                    src: Access(
                                        rowsBuffer,
                                        // Interleaved, tile f holds every (H/128)-th column from f.
                                        [rows, interleaved ? interleavedColumns : hiddenRange(h, global: true)]))),
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
        if configuration[Self.softmax] == .full {
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
        ]
        if let topSum {
            body += [
                .allocate(topSum.id),
                .op(.tensorReduce(dst: column(topSum), src: Access(top, [rows, chosen]), op: .add)),
                .allocate(topWeights.id),
                .op(
                    .tensorScalar(
                        dst: Access(topWeights, [rows, chosen]), src: Access(top, [rows, chosen]),
                        steps: [ScalarStep(.divide, .perPartition(column(topSum)))], engine: normaliser)),
            ]
        } else {
            body += [
                .allocate(topWeights.id),
                .op(
                    .copy(
                        dst: Access(topWeights, [rows, chosen]), src: Access(top, [rows, chosen]), engine: normaliser)),
            ]
        }
        body += [
            .op(
                .dma(dst: Access(weightsOut, [globalRows, chosen]), src: Access(topWeights, [rows, chosen]), queue: 2)),
            .op(.dma(dst: Access(indicesOut, [globalRows, chosen]), src: Access(topIndex, [rows, chosen]), queue: 2)),
        ]
        let prologue: [Stmt] = [.allocate(wSBUF.id), loadWeight]
        var program = b.program(
            name: "router_kernel", body: prologue + [.loop(Loop(t, trips: (tokens + tile - 1) / tile, body: body))])
        program.prefetch = prologue.count
        return program
    }
}
