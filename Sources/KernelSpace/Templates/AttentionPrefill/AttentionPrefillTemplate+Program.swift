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
        /// With `kv=resident`, a KV head's whole K^T (`[d, S]`) and V (`[key tile, key tiles, d]`).
        var kAll: BufferDecl?
        var vAll: BufferDecl?
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
        let resident = configuration[AttentionPrefillTemplate.kv] == .resident
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
            kAll: resident ? b.buffer("k_all_t", .sbuf, [d, keyTiles * keyTileSize], .bf16) : nil,
            vAll: resident ? b.buffer("v_all", .sbuf, [keyTileSize, keyTiles, d], .bf16) : nil,
            pvPSUM: b.buffer("pv_psum", .psum, [tile, d], .fp32, copies: 2),
            accumulator: b.buffer("out_acc", .sbuf, [tile, d], .fp32))
        let pass = configuration[AttentionPrefillTemplate.passHeads]
        let kv = b.variable("g")
        let member = b.variable("hh")
        let queryTile = b.variable("qt")
        let keyTile = b.variable("kt")
        let queryStart = Affine.term(queryTile, tile)
        let queryLimit: Affine? = positions % tile == 0 ? nil : .const(positions) + (-queryStart)
        let queryRows = AffineRange(start: .const(0), size: tile, limit: queryLimit)
        func column(_ buffer: BufferDecl) -> Access { Access(buffer, [queryRows, .full(1)]) }
        func rows(_ buffer: BufferDecl, _ width: Int) -> Access { Access(buffer, [queryRows, .full(width)]) }
        let row = configuration[AttentionPrefillTemplate.softmax] == .row
        // The heads of one pass: each its own buffers for what lives from one step to the next
        // (the second head's names end in `_1`), the rest shared with `state`.
        let passHeads = (0..<pass).map { index -> PassHead in
            let suffix = index == 0 ? "" : "_\(index)"
            var own = state
            if index > 0 {
                own.qT = b.buffer("q_t" + suffix, .sbuf, [d, tile], .bf16, copies: 2)
                own.pvPSUM = b.buffer("pv_psum" + suffix, .psum, [tile, d], .fp32, copies: 2 / pass)
            }
            let head = Affine.term(kv, group) + .term(member, pass) + index
            return PassHead(
                state: own,
                queryGlobal: AffineRange(start: head * positions + queryStart, size: tile, limit: queryLimit),
                qRows: configuration[AttentionPrefillTemplate.qLayout] == .dmaTranspose
                    ? nil : b.buffer("q_rows" + suffix, .sbuf, [tile, d], .bf16, copies: 2),
                result: b.buffer("out_rows" + suffix, .sbuf, [tile, d], .bf16, copies: 2),
                row: row
                    ? RowState(
                        scores: b.buffer("row_scores" + suffix, .sbuf, [tile, positions], .fp32, copies: 2),
                        probabilities: b.buffer("row_p" + suffix, .sbuf, [tile, positions], .bf16, copies: 2),
                        sum: b.buffer("row_sum" + suffix, .sbuf, [tile, 1], .fp32, copies: 2)) : nil)
        }

        // Each step of the query tile for every head of the pass in turn: one head's softmax on
        // VectorE and ScalarE overlaps the next head's matmuls on TensorE.
        var perQuery: [Stmt] = []
        for head in passHeads {
            let qTiles = Access(head.state.qT, [.full(d), queryRows])
            perQuery.append(.allocate(head.state.qT.id))
            if let qRows = head.qRows {
                let flipped = Access(state.flip, [AffineRange(start: .const(0), size: d), queryRows])
                perQuery += [
                    .allocate(qRows.id),
                    .op(.dma(dst: rows(qRows, d), src: Access(q, [head.queryGlobal, .full(d)]), queue: 0)),
                    .allocate(state.flip.id), .op(.transpose(dst: flipped, src: rows(qRows, d))),
                    .op(.copy(dst: qTiles, src: flipped, engine: .vector)),
                ]
            } else {
                perQuery.append(
                    .op(.dmaTranspose(dst: qTiles, src: Access(q, [head.queryGlobal, .full(d)]), queue: 0)))
            }
        }
        let diagonalStep = b.variable("dj")
        let remaining = Affine.const(keyTiles) + (-Affine.term(queryTile, ratio))
        // Key tiles wholly below the diagonal, then the `ratio` key tiles the diagonal crosses, each with its mask.
        func overKeyTiles(_ block: (Affine, Affine?) -> [Stmt]) -> [Stmt] {
            [
                .loop(
                    Loop(
                        keyTile, trips: max(1, keyTiles), limit: .term(queryTile, ratio),
                        body: block(.term(keyTile), nil))
                ),
                .loop(
                    Loop(
                        diagonalStep, trips: ratio, limit: remaining,
                        body: block(.term(queryTile, ratio) + .term(diagonalStep), .term(diagonalStep)))),
            ]
        }
        var normalised: [(sum: Access, values: Access)] = []
        if row {
            perQuery += passHeads.map { Stmt.allocate($0.row!.scores.id) }
            perQuery += overKeyTiles { keyIndex, mask in
                let (load, keysT) = keysTransposed(keyIndex, state: state, kv: kv, k: k)
                let columns = keyRange(keyIndex, inRow: true)
                return load
                    + passHeads.flatMap { head in
                        scores(
                            into: Access(head.row!.scores, [queryRows, columns]), keysT: keysT, mask: mask,
                            state: head.state, queryRows: queryRows)
                    }
            }
            perQuery += passHeads.flatMap {
                rowStatistics($0.row!, state: $0.state, queryTile: queryTile, queryRows: queryRows)
            }
            perQuery += rowValues(
                passHeads, key: b.variable("kj"), kv: kv, queryTile: queryTile, queryRows: queryRows, v: v)
            normalised = passHeads.map { (column($0.row!.sum), Access($0.state.pvPSUM, [queryRows, .full(d)])) }
        } else {
            perQuery += [
                .op(.memset(dst: column(state.running), value: -1e30, engine: .vector)),
                .op(.memset(dst: column(state.total), value: 0, engine: .vector)),
                .op(.memset(dst: rows(state.accumulator, d), value: 0, engine: .vector)),
            ]
            perQuery += overKeyTiles { keyIndex, mask in
                keyBlock(keyIndex, mask: mask, state: state, kv: kv, queryRows: queryRows, k: k, v: v)
            }
            normalised = [(column(state.total), rows(state.accumulator, d))]
        }
        for (head, (sum, values)) in zip(passHeads, normalised) {
            perQuery += [
                .allocate(head.result.id),
                .op(
                    .tensorScalar(
                        dst: rows(head.result, d), src: values, steps: [ScalarStep(.divide, .perPartition(sum))],
                        engine: .vector)),
                .op(.dma(dst: Access(out, [head.queryGlobal, .full(d)]), src: rows(head.result, d), queue: 0)),
            ]
        }
        // The diagonal's causal masks, once: min(0, q - k) * 1e30 is 0 where key <= query; mask j serves
        // the j-th key tile inside a query tile.
        let wholeMask = Access(state.mask, [.full(tile), .full(ratio), .full(keyTileSize)])
        let prologue: [Stmt] =
            [
                .allocate(state.mask.id), .op(.iota(dst: wholeMask, partition: 1, free: -1, offset: .const(0))),
                .op(
                    .tensorScalar(
                        dst: wholeMask, src: wholeMask,
                        steps: [ScalarStep(.minimum, .immediate(0)), ScalarStep(.multiply, .immediate(1e30))],
                        engine: .vector)),
            ]
            + (row ? [] : [.allocate(state.running.id), .allocate(state.total.id), .allocate(state.accumulator.id)])
        // A resident KV head's keys and values load once, before its query heads.
        var perKV: [Stmt] = []
        if let kAll = state.kAll, let vAll = state.vAll {
            let j = b.variable("kl")
            let columns = keyRange(.term(j))
            let load =
                loadKeys(
                    .term(j), into: Access(kAll, [.full(d), keyRange(.term(j), inRow: true)]), state: state, kv: kv,
                    k: k)
                + [
                    .op(
                        .dma(
                            dst: Access(vAll, [columns, .index(.term(j)), .full(d)]),
                            src: Access(v, [keyGlobal(.term(j), kv: kv), .full(d)]), queue: 2))
                ]
            perKV = [.allocate(kAll.id), .allocate(vAll.id), .loop(Loop(j, trips: keyTiles, body: load))]
        }
        let body: [Stmt] = [
            .loop(
                Loop(
                    kv, trips: kvHeads,
                    body: perKV + [
                        .loop(
                            Loop(
                                member, trips: group / pass,
                                body: [.loop(Loop(queryTile, trips: tiles, body: perQuery))]))
                    ]))
        ]
        return b.program(name: "attention_prefill_kernel", body: prologue + body)
    }

    /// Buffers of a query tile's whole-row softmax.
    private struct RowState {
        var scores: BufferDecl
        var probabilities: BufferDecl
        var sum: BufferDecl
    }

    /// One query head of a pass (``AttentionPrefillTemplate`` `pass_heads`): its buffers and rows.
    private struct PassHead {
        /// The shared buffers, with this head's own q^T and `P V` accumulator.
        var state: State
        /// The head's query tile's rows of `q` and of the output.
        var queryGlobal: AffineRange
        /// The query rows TensorE transposes (nil when a DMA transposes them).
        var qRows: BufferDecl?
        var result: BufferDecl
        /// With `softmax=row`, the head's whole-row buffers.
        var row: RowState?
    }

    /// The keys of key tile `keyIndex`: from 0 in a tile buffer, or at their position in a row.
    private func keyRange(_ keyIndex: Affine, inRow: Bool = false) -> AffineRange {
        let (positions, tile) = (shape.positions, configuration[AttentionPrefillTemplate.kTile])
        let keyStart = keyIndex * tile
        let keyLimit: Affine? = positions % tile == 0 ? nil : .const(positions) + (-keyStart)
        return AffineRange(start: inRow ? keyStart : .const(0), size: tile, limit: keyLimit)
    }

    /// Key tile `keyIndex` of KV head `kv` in `state.kT` as `[d, keys]`: its statements and the tile.
    private func keysTransposed(_ keyIndex: Affine, state s: State, kv: LoopVar, k: BufferDecl) -> ([Stmt], Access) {
        let d = shape.headDim
        if let kAll = s.kAll { return ([], Access(kAll, [.full(d), keyRange(keyIndex, inRow: true)])) }
        let keysT = Access(s.kT, [.full(d), keyRange(keyIndex)])
        return ([.allocate(s.kT.id)] + loadKeys(keyIndex, into: keysT, state: s, kv: kv, k: k), keysT)
    }

    /// Key tile `keyIndex`'s rows of KV head `kv` in HBM.
    private func keyGlobal(_ keyIndex: Affine, kv: LoopVar) -> AffineRange {
        let tile = configuration[AttentionPrefillTemplate.kTile]
        return AffineRange(
            start: .term(kv, shape.positions) + keyIndex * tile, size: tile, limit: keyRange(keyIndex).limit)
    }

    /// Key tile `keyIndex` of KV head `kv` value by value into `keysT` (`[d, keys]`), in the
    /// configuration's K layout.
    private func loadKeys(_ keyIndex: Affine, into keysT: Access, state s: State, kv: LoopVar, k: BufferDecl)
        -> [Stmt]
    {
        let d = shape.headDim
        let tile = configuration[AttentionPrefillTemplate.kTile]
        let keyStart = keyIndex * tile
        let keyColumns = keyRange(keyIndex)
        let keyLimit = keyColumns.limit
        let keyGlobal = keyGlobal(keyIndex, kv: kv)
        var block: [Stmt] = []
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
        return block
    }

    /// Key tile `keyIndex`'s values as `[keys, d]`: resident, or loaded into `state.vRows`.
    private func values(_ keyIndex: Affine, state s: State, kv: LoopVar, v: BufferDecl) -> ([Stmt], Access) {
        let (columns, d) = (keyRange(keyIndex), shape.headDim)
        if let vAll = s.vAll { return ([], Access(vAll, [columns, .index(keyIndex), .full(d)])) }
        let rows = Access(s.vRows, [columns, .full(d)])
        return (
            [
                .allocate(s.vRows.id),
                .op(.dma(dst: rows, src: Access(v, [keyGlobal(keyIndex, kv: kv), .full(d)]), queue: 2)),
            ], rows
        )
    }

    /// The scaled (and on the diagonal, masked) scores of the query tile against `keysT`, written to
    /// `scores`.
    private func scores(into scores: Access, keysT: Access, mask: Affine?, state s: State, queryRows: AffineRange)
        -> [Stmt]
    {
        let keyColumns = AffineRange(start: .const(0), size: keysT.ranges[1].size, limit: keysT.ranges[1].limit)
        let scoreTile = Access(s.scorePSUM, [queryRows, keyColumns])
        let scale = Float(1 / Foundation.sqrt(Double(shape.headDim)))
        var block: [Stmt] = [
            .allocate(s.scorePSUM.id),
            .op(
                .matmul(
                    dst: scoreTile, stationary: Access(s.qT, [.full(shape.headDim), queryRows]), moving: keysT,
                    accumulation: .overwrite)),
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
        return block
    }

    /// The whole causal row's softmax of a query tile whose scores are in `row.scores`: its maximum,
    /// then the exponentials and their sum.
    private func rowStatistics(_ row: RowState, state s: State, queryTile: LoopVar, queryRows: AffineRange) -> [Stmt] {
        let tile = configuration[AttentionPrefillTemplate.qTile]
        // Keys up to the end of the query tile (the mask zeroes those past each query).
        let keys = AffineRange(start: .const(0), size: shape.positions, limit: .term(queryTile, tile) + tile)
        func column(_ buffer: BufferDecl) -> Access { Access(buffer, [queryRows, .full(1)]) }
        return [
            .allocate(s.tileMax.id),
            .op(.tensorReduce(dst: column(s.tileMax), src: Access(row.scores, [queryRows, keys]), op: .maximum)),
            .allocate(s.negated.id),
            .op(
                .tensorScalar(
                    dst: column(s.negated), src: column(s.tileMax), steps: [ScalarStep(.multiply, .immediate(-1))],
                    engine: .vector)),
            .allocate(row.probabilities.id), .allocate(row.sum.id),
            .op(
                .activation(
                    dst: Access(row.probabilities, [queryRows, keys]), src: Access(row.scores, [queryRows, keys]),
                    function: .exp, bias: column(s.negated), reduce: column(row.sum))),
        ]
    }

    /// `P V` of each head's query tile accumulated over the key tiles (`key`) into its
    /// `state.pvPSUM` (divided by its row sum afterwards); each value tile serves every head.
    private func rowValues(
        _ heads: [PassHead], key j: LoopVar, kv: LoopVar, queryTile: LoopVar, queryRows: AffineRange, v: BufferDecl
    ) -> [Stmt] {
        let (tile, keyTile) = (
            configuration[AttentionPrefillTemplate.qTile], configuration[AttentionPrefillTemplate.kTile]
        )
        let keyTiles = (shape.positions + keyTile - 1) / keyTile
        let columns = keyRange(.term(j))
        let inRow = keyRange(.term(j), inRow: true)
        let (loadValues, values) = values(.term(j), state: heads[0].state, kv: kv, v: v)
        let products = heads.flatMap { head -> [Stmt] in
            let s = head.state
            let pFlip = Access(s.flip, [columns, queryRows])
            return [
                .allocate(s.flip.id),
                .op(.transpose(dst: pFlip, src: Access(head.row!.probabilities, [queryRows, inRow]))),
                .allocate(s.pT.id),
                .op(
                    configuration[AttentionPrefillTemplate.transposeEngine] == .scalar
                        ? .activation(dst: Access(s.pT, [columns, queryRows]), src: pFlip, function: .copy)
                        : .copy(dst: Access(s.pT, [columns, queryRows]), src: pFlip, engine: .vector)),
                .op(
                    .matmul(
                        dst: Access(s.pvPSUM, [queryRows, .full(shape.headDim)]),
                        stationary: Access(s.pT, [columns, queryRows]), moving: values,
                        accumulation: .acrossLoops([j.id]))),
            ]
        }
        return heads.map { Stmt.allocate($0.state.pvPSUM.id) } + [
            .loop(
                Loop(
                    j, trips: keyTiles, limit: .term(queryTile, tile / keyTile) + tile / keyTile,
                    body: loadValues + products))
        ]
    }

    /// One key tile's update of the running softmax and output accumulator.
    private func keyBlock(
        _ keyIndex: Affine, mask: Affine?, state s: State, kv: LoopVar, queryRows: AffineRange, k: BufferDecl,
        v: BufferDecl
    ) -> [Stmt] {
        let d = shape.headDim
        let keyColumns = keyRange(keyIndex)
        func column(_ buffer: BufferDecl) -> Access { Access(buffer, [queryRows, .full(1)]) }
        let (load, keysT) = keysTransposed(keyIndex, state: s, kv: kv, k: k)
        let scores = Access(s.scores, [queryRows, keyColumns])
        var block = load + [.allocate(s.scores.id)]
        block += self.scores(into: scores, keysT: keysT, mask: mask, state: s, queryRows: queryRows)
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
        ]
        let (loadValues, values) = values(keyIndex, state: s, kv: kv, v: v)
        block +=
            loadValues + [
                .allocate(s.pvPSUM.id),
                .op(
                    .matmul(
                        dst: product, stationary: Access(s.pT, [keyColumns, queryRows]),
                        moving: values,
                        accumulation: .overwrite)),
                .op(
                    .tensorScalar(
                        dst: accumulator, src: accumulator,
                        steps: [ScalarStep(.multiply, .perPartition(column(s.alpha)))],
                        engine: .vector)),
                .op(.tensorTensor(dst: accumulator, a: accumulator, b: product, op: .add, engine: .vector)),
                .op(.copy(dst: column(s.running), src: column(s.newMax), engine: .vector)),
            ]
        return block
    }
}
