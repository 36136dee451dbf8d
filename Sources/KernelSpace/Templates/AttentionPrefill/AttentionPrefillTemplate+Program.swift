import Foundation

extension AttentionPrefillTemplate {
    /// The tile program of a configuration that passes the restrictions.
    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        var builder = AttentionPrefillBuilder(
            shape: Shape(AttentionShape.coreProblem(problem, configuration)), configuration: configuration)
        return AttentionShape.spread(builder.build(), problem, configuration)
    }
}

/// Builds the program of one ``AttentionPrefillTemplate`` configuration.
private struct AttentionPrefillBuilder {
    let shape: AttentionPrefillTemplate.Shape
    let configuration: Configuration
    private var b = ProgramBuilder()

    init(shape: AttentionPrefillTemplate.Shape, configuration: Configuration) {
        self.shape = shape
        self.configuration = configuration
    }

    /// Buffers one query tile's online softmax works on.
    private struct State {
        var qT: BufferDecl
        var kT: BufferDecl
        var kRows: BufferDecl?
        var flip: BufferDecl
        var scorePSUM: BufferDecl
        var scores: BufferDecl
        var mask: BufferDecl
        var running: BufferDecl
        var tileMax: BufferDecl
        var newMax: BufferDecl
        var negated: BufferDecl
        var alpha: BufferDecl
        var rowSum: BufferDecl
        var total: BufferDecl
        var probabilities: BufferDecl
        var pT: BufferDecl
        var vRows: BufferDecl
        var pvPSUM: BufferDecl
        var accumulator: BufferDecl
    }

    mutating func build() -> KernelProgram {
        let (positions, heads, kvHeads, d) = (shape.positions, shape.heads, shape.keyValueHeads, shape.headDim)
        let group = heads / kvHeads
        let (tile, keyTileSize) = (
            configuration[AttentionPrefillTemplate.qTile], configuration[AttentionPrefillTemplate.kTile]
        )
        let ratio = tile / keyTileSize
        let bufs = configuration[AttentionPrefillTemplate.bufs]
        let layout = configuration[AttentionPrefillTemplate.kLayout]
        let tiles = (positions + tile - 1) / tile
        let keyTiles = (positions + keyTileSize - 1) / keyTileSize
        let q = b.buffer("q", .hbm, [heads * positions, d], .bf16, role: .input(0))
        let k =
            layout == .pretransposed
            ? b.buffer("k_t", .hbm, [kvHeads * d, positions], .bf16, role: .input(1))
            : b.buffer("k", .hbm, [kvHeads * positions, d], .bf16, role: .input(1))
        let v = b.buffer("v", .hbm, [kvHeads * positions, d], .bf16, role: .input(2))
        let out = b.buffer("attention_out", .hbm, [heads * positions, d], .bf16, role: .output)
        let state = State(
            qT: b.buffer("q_t", .sbuf, [d, tile], .bf16, copies: 2),
            kT: b.buffer("k_tile_t", .sbuf, [d, keyTileSize], .bf16, copies: bufs),
            kRows: layout == .tensorTranspose
                ? b.buffer("k_rows", .sbuf, [keyTileSize, d], .bf16, copies: bufs) : nil,
            flip: b.buffer("flip_psum", .psum, [128, 128], .fp32, copies: 2),
            scorePSUM: b.buffer("score_psum", .psum, [tile, keyTileSize], .fp32, copies: 2),
            scores: b.buffer("scores", .sbuf, [tile, keyTileSize], .fp32, copies: 2),
            mask: b.buffer("causal_mask", .sbuf, [tile, ratio, keyTileSize], .fp32),
            running: b.buffer("running_max", .sbuf, [tile, 1], .fp32),
            tileMax: b.buffer("tile_max", .sbuf, [tile, 1], .fp32, copies: 2),
            newMax: b.buffer("new_max", .sbuf, [tile, 1], .fp32, copies: 2),
            negated: b.buffer("neg_max", .sbuf, [tile, 1], .fp32, copies: 2),
            alpha: b.buffer("rescale", .sbuf, [tile, 1], .fp32, copies: 2),
            rowSum: b.buffer("tile_sum", .sbuf, [tile, 1], .fp32, copies: 2),
            total: b.buffer("running_sum", .sbuf, [tile, 1], .fp32),
            probabilities: b.buffer("p", .sbuf, [tile, keyTileSize], .bf16, copies: 2),
            pT: b.buffer("p_t", .sbuf, [keyTileSize, tile], .bf16, copies: 2),
            vRows: b.buffer("v_rows", .sbuf, [keyTileSize, d], .bf16, copies: bufs),
            pvPSUM: b.buffer("pv_psum", .psum, [tile, d], .fp32, copies: 2),
            accumulator: b.buffer("out_acc", .sbuf, [tile, d], .fp32))
        let qRows = b.buffer("q_rows", .sbuf, [tile, d], .bf16, copies: 2)
        let result = b.buffer("out_rows", .sbuf, [tile, d], .bf16, copies: 2)
        let kv = b.variable("g")
        let member = b.variable("hh")
        let queryTile = b.variable("qt")
        let keyTile = b.variable("kt")
        let head = Affine.term(kv, group) + .term(member)
        let queryStart = Affine.term(queryTile, tile)
        let queryLimit: Affine? = positions % tile == 0 ? nil : .const(positions) + (-queryStart)
        let queryRows = AffineRange(start: .const(0), size: tile, limit: queryLimit)
        let queryGlobal = AffineRange(
            start: Affine(
                terms: head.terms.map { .init(variable: $0.variable, coefficient: $0.coefficient * positions) })
                + queryStart, size: tile, limit: queryLimit)
        func column(_ buffer: BufferDecl) -> Access { Access(buffer, [queryRows, .full(1)]) }
        func rows(_ buffer: BufferDecl, _ width: Int) -> Access { Access(buffer, [queryRows, .full(width)]) }

        var perQuery: [Stmt] = [
            .allocate(qRows.id), .op(.dma(dst: rows(qRows, d), src: Access(q, [queryGlobal, .full(d)]), queue: 0)),
            .allocate(state.qT.id),
        ]
        let qTiles = Access(state.qT, [.full(d), queryRows])
        if configuration[AttentionPrefillTemplate.qLayout] == .dmaTranspose {
            perQuery.append(.op(.dmaTranspose(dst: qTiles, src: Access(q, [queryGlobal, .full(d)]), queue: 0)))
        } else {
            let flipped = Access(state.flip, [AffineRange(start: .const(0), size: d), queryRows])
            perQuery += [
                .allocate(state.flip.id), .op(.transpose(dst: flipped, src: rows(qRows, d))),
                .op(.copy(dst: qTiles, src: flipped, engine: .vector)),
            ]
        }
        perQuery += [
            .op(.memset(dst: column(state.running), value: -1e30, engine: .vector)),
            .op(.memset(dst: column(state.total), value: 0, engine: .vector)),
            .op(.memset(dst: rows(state.accumulator, d), value: 0, engine: .vector)),
        ]
        // Key tiles wholly below the diagonal, then the `ratio` key tiles the diagonal crosses, each with its mask.
        let offDiagonal = keyBlock(.term(keyTile), mask: nil, state: state, kv: kv, queryRows: queryRows, k: k, v: v)
        perQuery.append(
            .loop(Loop(keyTile, trips: max(1, keyTiles), limit: .term(queryTile, ratio), body: offDiagonal)))
        let diagonalStep = b.variable("dj")
        let diagonal = keyBlock(
            .term(queryTile, ratio) + .term(diagonalStep), mask: .term(diagonalStep), state: state, kv: kv,
            queryRows: queryRows, k: k, v: v)
        let remaining = Affine.const(keyTiles) + (-Affine.term(queryTile, ratio))
        perQuery.append(.loop(Loop(diagonalStep, trips: ratio, limit: remaining, body: diagonal)))
        perQuery += [
            .allocate(result.id),
            .op(
                .tensorScalar(
                    dst: rows(result, d), src: rows(state.accumulator, d),
                    steps: [ScalarStep(.divide, .perPartition(column(state.total)))], engine: .vector)),
            .op(.dma(dst: Access(out, [queryGlobal, .full(d)]), src: rows(result, d), queue: 0)),
        ]
        // The diagonal's causal masks, once: min(0, q - k) * 1e30 is 0 where key <= query; mask j serves
        // the j-th key tile inside a query tile.
        let wholeMask = Access(state.mask, [.full(tile), .full(ratio), .full(keyTileSize)])
        let prologue: [Stmt] = [
            .allocate(state.mask.id), .op(.iota(dst: wholeMask, partition: 1, free: -1, offset: .const(0))),
            .op(
                .tensorScalar(
                    dst: wholeMask, src: wholeMask,
                    steps: [ScalarStep(.minimum, .immediate(0)), ScalarStep(.multiply, .immediate(1e30))],
                    engine: .vector)),
            .allocate(state.running.id), .allocate(state.total.id), .allocate(state.accumulator.id),
        ]
        let body: [Stmt] = [
            .loop(
                Loop(
                    kv, trips: kvHeads,
                    body: [
                        .loop(Loop(member, trips: group, body: [.loop(Loop(queryTile, trips: tiles, body: perQuery))]))
                    ]))
        ]
        return b.program(name: "attention_prefill_kernel", body: prologue + body)
    }

    /// One key tile's update of the running softmax and output accumulator.
    private mutating func keyBlock(
        _ keyIndex: Affine, mask: Affine?, state s: State, kv: LoopVar, queryRows: AffineRange, k: BufferDecl,
        v: BufferDecl
    ) -> [Stmt] {
        let (positions, d) = (shape.positions, shape.headDim)
        let tile = configuration[AttentionPrefillTemplate.kTile]
        let keyStart = Affine(
            terms: keyIndex.terms.map { .init(variable: $0.variable, coefficient: $0.coefficient * tile) })
        let keyLimit: Affine? = positions % tile == 0 ? nil : .const(positions) + (-keyStart)
        let keyColumns = AffineRange(start: .const(0), size: tile, limit: keyLimit)
        let keyGlobal = AffineRange(start: .term(kv, positions) + keyStart, size: tile, limit: keyLimit)
        let rescaler = configuration[AttentionPrefillTemplate.rescaleEngine]
        func column(_ buffer: BufferDecl) -> Access { Access(buffer, [queryRows, .full(1)]) }
        let keysT = Access(s.kT, [.full(d), keyColumns])
        var block: [Stmt] = [.allocate(s.kT.id)]
        switch configuration[AttentionPrefillTemplate.kLayout] {
        case .pretransposed:
            let rowsOfK = AffineRange(start: .term(kv, d), size: d)
            block.append(
                .op(
                    .dma(
                        dst: keysT,
                        src: Access(k, [rowsOfK, AffineRange(start: keyStart, size: tile, limit: keyLimit)]), queue: 1))
            )
        case .dmaTranspose:
            block.append(.op(.dmaTranspose(dst: keysT, src: Access(k, [keyGlobal, .full(d)]), queue: 1)))
        case .tensorTranspose:
            let kRows = s.kRows!
            let flipped = Access(s.flip, [AffineRange(start: .const(0), size: d), keyColumns])
            block += [
                .allocate(kRows.id),
                .op(
                    .dma(dst: Access(kRows, [keyColumns, .full(d)]), src: Access(k, [keyGlobal, .full(d)]), queue: 1)),
                .allocate(s.flip.id), .op(.transpose(dst: flipped, src: Access(kRows, [keyColumns, .full(d)]))),
                .op(.copy(dst: keysT, src: flipped, engine: .vector)),
            ]
        }
        let scoreTile = Access(s.scorePSUM, [queryRows, keyColumns])
        let scores = Access(s.scores, [queryRows, keyColumns])
        let scale = Float(1 / Foundation.sqrt(Double(d)))
        block += [
            .allocate(s.scorePSUM.id),
            .op(
                .matmul(
                    dst: scoreTile, stationary: Access(s.qT, [.full(d), queryRows]), moving: keysT,
                    accumulation: .overwrite)),
            .allocate(s.scores.id),
            .op(
                configuration[AttentionPrefillTemplate.scaleEngine] == .scalar
                    ? .activation(dst: scores, src: scoreTile, function: .copy, scale: scale)
                    : .tensorScalar(
                        dst: scores, src: scoreTile, steps: [ScalarStep(.multiply, .immediate(scale))], engine: .vector)
            ),
        ]
        if let mask {
            block.append(
                .op(
                    .tensorTensor(
                        dst: scores, a: scores, b: Access(s.mask, [queryRows, .index(mask), keyColumns]), op: .add,
                        engine: .vector)))
        }
        let probabilities = Access(s.probabilities, [queryRows, keyColumns])
        let pFlip = Access(s.flip, [keyColumns, queryRows])
        let accumulator = Access(s.accumulator, [queryRows, .full(d)])
        let product = Access(s.pvPSUM, [queryRows, .full(d)])
        block += [
            .allocate(s.tileMax.id), .op(.tensorReduce(dst: column(s.tileMax), src: scores, op: .maximum)),
            .allocate(s.newMax.id),
            .op(
                .tensorTensor(
                    dst: column(s.newMax), a: column(s.running), b: column(s.tileMax), op: .maximum, engine: .vector)),
            .allocate(s.negated.id),
            .op(
                .tensorScalar(
                    dst: column(s.negated), src: column(s.newMax), steps: [ScalarStep(.multiply, .immediate(-1))],
                    engine: .vector)),
            .allocate(s.alpha.id),
            .op(.activation(dst: column(s.alpha), src: column(s.running), function: .exp, bias: column(s.negated))),
            .allocate(s.probabilities.id), .allocate(s.rowSum.id),
            .op(
                .activation(
                    dst: probabilities, src: scores, function: .exp, bias: column(s.negated), reduce: column(s.rowSum))),
            .op(
                .tensorScalar(
                    dst: column(s.total), src: column(s.total),
                    steps: [ScalarStep(.multiply, .perPartition(column(s.alpha)))], engine: .vector)),
            .op(
                .tensorTensor(dst: column(s.total), a: column(s.total), b: column(s.rowSum), op: .add, engine: .vector)),
            .allocate(s.flip.id), .op(.transpose(dst: pFlip, src: probabilities)),
            .allocate(s.pT.id), .op(.copy(dst: Access(s.pT, [keyColumns, queryRows]), src: pFlip, engine: .vector)),
            .allocate(s.vRows.id),
            .op(.dma(dst: Access(s.vRows, [keyColumns, .full(d)]), src: Access(v, [keyGlobal, .full(d)]), queue: 2)),
            .allocate(s.pvPSUM.id),
            .op(
                .matmul(
                    dst: product, stationary: Access(s.pT, [keyColumns, queryRows]),
                    moving: Access(s.vRows, [keyColumns, .full(d)]),
                    accumulation: .overwrite)),
            .op(
                .tensorScalar(
                    dst: accumulator, src: accumulator, steps: [ScalarStep(.multiply, .perPartition(column(s.alpha)))],
                    engine: rescaler)),
            .op(.tensorTensor(dst: accumulator, a: accumulator, b: product, op: .add, engine: rescaler)),
            .op(.copy(dst: column(s.running), src: column(s.newMax), engine: .vector)),
        ]
        return block
    }
}
