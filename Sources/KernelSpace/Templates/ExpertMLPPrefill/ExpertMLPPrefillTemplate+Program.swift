extension ExpertMLPPrefillTemplate {
    /// The tile program of a configuration that passes the restrictions.
    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        let cores = Self.cores(configuration)
        let shape = ExpertShape(problem)
        let size = configuration[Self.block]
        // The busier core's share of the scenario's blocks (``blocks(indices:weights:shape:size:cores:)``).
        let usedBlocks = Self.usedBlocks(problem, size: size)
        let used = (usedBlocks + cores - 1) / cores
        // The rows a used block holds on average (the rest are padding that is not scatter-added).
        let rows = (shape.tokens * shape.k + usedBlocks - 1) / max(1, usedBlocks)
        var builder = ExpertMLPPrefillBuilder(
            shape: shape, configuration: configuration,
            blocks: Self.blockBound(shape, size: size, cores: cores) / cores, expectedBlocks: used, expectedRows: rows)
        let program = builder.build()
        guard cores > 1 else { return program }
        // Each core runs its share of the block tables into its own partial output; then they add.
        let (inputs, output) = (program.inputs, program.outputs[0].id)
        let slices = [inputs[3].id: 1, inputs[4].id: 1, inputs[5].id: 0, inputs[6].id: 1, inputs[7].id: 1, output: 1]
        return program.spread(over: cores, slicing: slices)
            .summingPartials(of: output, engine: configuration[Self.scaleEngine])
    }
}

/// Builds the program of one ``ExpertMLPPrefillTemplate`` configuration: per active expert block,
/// gather the block's token rows, an ``ExpertProjection`` of them, rows scaled by their routing
/// weights, then scatter-added into the output.
private struct ExpertMLPPrefillBuilder {
    let shape: ExpertShape
    let configuration: Configuration
    /// Blocks the kernel is compiled for at this block size.
    let blocks: Int
    /// Of those, the blocks the problem's routing scenario fills (timed by the performance model).
    let expectedBlocks: Int
    /// The rows such a block holds (timed by the performance model).
    let expectedRows: Int
    private var b = ProgramBuilder()

    init(shape: ExpertShape, configuration: Configuration, blocks: Int, expectedBlocks: Int, expectedRows: Int) {
        self.shape = shape
        self.configuration = configuration
        self.blocks = blocks
        self.expectedBlocks = expectedBlocks
        self.expectedRows = expectedRows
    }

    mutating func build() -> KernelProgram {
        let (tokens, hidden, columns, experts) = (shape.tokens, shape.hidden, shape.columns, shape.experts)
        let rows = configuration[ExpertMLPPrefillTemplate.block]
        let bufs = configuration[ExpertMLPPrefillTemplate.bufs]
        let zeroRows = min(128, tokens)
        let x = b.buffer("x", .hbm, [tokens, hidden], .bf16, role: .input(0))
        let gateUp = b.buffer("gate_up", .hbm, [experts, hidden, 2 * columns], .bf16, role: .input(1))
        let down = b.buffer("down", .hbm, [experts, columns, hidden], .bf16, role: .input(2))
        let blockExpert = b.buffer("block_expert", .hbm, [1, blocks], .int32, role: .input(3))
        let blockToken = b.buffer("block_token", .hbm, [1, blocks * rows], .int32, role: .input(4))
        let blockWeight = b.buffer("block_weight", .hbm, [blocks * rows, 1], .fp32, role: .input(5))
        let blockActive = b.buffer("block_active", .hbm, [1, blocks], .int32, role: .input(6))
        let rowActive = b.buffer("block_row_active", .hbm, [1, blocks * rows], .int32, role: .input(7))
        let y = b.buffer("y", .hbm, [tokens, hidden], .bf16, role: .output)
        let flip = b.buffer("flip_psum", .psum, [128, 128], .fp32, copies: 2)
        let projection = ExpertProjection(
            &b, rows: rows, shape: shape, downTile: configuration[ExpertMLPPrefillTemplate.downTile], bufs: bufs,
            gateUp: gateUp,
            down: down, flip: flip, hiddenOrder: configuration[ExpertMLPPrefillTemplate.hiddenOrder])
        let (partitions, hiddenTiles) = (projection.hiddenPartitions, projection.hiddenTiles)
        let expertSB = b.buffer("block_expert_sb", .sbuf, [1, blocks], .int32)
        let tokenSB = b.buffer("block_token_sb", .sbuf, [1, blocks * rows], .int32)
        let activeSB = b.buffer("block_active_sb", .sbuf, [1, blocks], .int32)
        let rowActiveSB = b.buffer("block_row_active_sb", .sbuf, [1, blocks * rows], .int32)
        let zero = b.buffer("zero_rows", .sbuf, [zeroRows, hidden], .bf16)
        let gathered = b.buffer("x_block", .sbuf, [rows, hidden], .bf16, copies: bufs)
        let weights = b.buffer("row_weight", .sbuf, [rows, 1], .fp32, copies: bufs)
        let xT = b.buffer("x_block_t", .sbuf, [partitions, hiddenTiles, rows], .bf16, copies: 2)
        let outRows = b.buffer("out_rows", .sbuf, [rows, hidden], .bf16, copies: 2)
        let (block, row, lt, zt) = (b.variable("blk"), b.variable("r"), b.variable("lt"), b.variable("zt"))
        let (live, rowLive) = (b.variable("live"), b.variable("row_live"))
        let allRows = AffineRange.full(rows)
        let tokenIndex = Access(tokenSB, [.full(1), AffineRange(start: .term(block, rows) + .term(row), size: 1)])
        let oneRow = AffineRange(start: .const(0), size: 1)
        let zeroStart = Affine.term(zt, zeroRows)
        let zeroLimit: Affine? = tokens % zeroRows == 0 ? nil : .const(tokens) + (-zeroStart)
        // The block tables, whole, into SBUF once.
        func load(_ table: BufferDecl, into onChip: BufferDecl) -> [Stmt] {
            let whole = [AffineRange.full(1), .full(table.shape[1])]
            return [
                .allocate(onChip.id), .op(.dma(dst: Access(onChip, whole), src: Access(table, whole), queue: 0)),
            ]
        }
        var body: [Stmt] =
            load(blockExpert, into: expertSB) + load(blockToken, into: tokenSB) + load(blockActive, into: activeSB)
            + load(rowActive, into: rowActiveSB)
        body += [
            .allocate(zero.id),
            .op(.memset(dst: Access(zero, [.full(zeroRows), .full(hidden)]), value: 0, engine: .vector)),
            .loop(
                Loop(
                    zt, trips: (tokens + zeroRows - 1) / zeroRows,
                    body: [
                        .op(
                            .dma(
                                dst: Access(
                                    y, [AffineRange(start: zeroStart, size: zeroRows, limit: zeroLimit), .full(hidden)]),
                                src: Access(
                                    zero,
                                    [AffineRange(start: .const(0), size: zeroRows, limit: zeroLimit), .full(hidden)]),
                                queue: 2))
                    ])),
        ]
        // A block's own rows only are gathered and scatter-added: a padding row's flag is 0. Its
        // values are then whatever the tile held, and stay in its own output row, which is not added.
        let ownRow = RuntimeCount(
            source: Access(rowActiveSB, [.full(1), AffineRange(start: .term(block, rows) + .term(row), size: 1)]),
            expected: .const(expectedRows) + .term(row, -1))
        let gather = Stmt.op(
            .dma(
                dst: Access(gathered, [AffineRange(start: .term(row), size: 1), .full(hidden)]),
                src: Access(x, [oneRow, .full(hidden)]).offset(0, by: tokenIndex), queue: 0))
        var perBlock: [Stmt] = [
            .allocate(gathered.id),
            .loop(Loop(row, trips: rows, body: [.loop(Loop(rowLive, trips: 1, runtime: ownRow, body: [gather]))])),
            .allocate(weights.id),
            .op(
                .dma(
                    dst: Access(weights, [allRows, .full(1)]),
                    src: Access(blockWeight, [AffineRange(start: .term(block, rows), size: rows), .full(1)]), queue: 0)),
        ]
        perBlock += projection.transposeRows(gathered, rows: rows, into: xT, variable: lt)
        perBlock.append(.allocate(outRows.id))
        perBlock += projection.statements(
            expertIndex: Access(expertSB, [.full(1), AffineRange(start: .term(block), size: 1)]),
            stationary: Access(xT, [.full(partitions), .index(.term(projection.hiddenTile)), allRows]),
            fused: configuration[ExpertMLPPrefillTemplate.gateUp] == .fused,
            multiplyEngine: configuration[ExpertMLPPrefillTemplate.multiplyEngine]
        ) { partial, chunkColumns in
            [
                .op(
                    .tensorScalar(
                        dst: Access(outRows, [allRows, chunkColumns]), src: partial,
                        steps: [ScalarStep(.multiply, .perPartition(Access(weights, [allRows, .full(1)])))],
                        engine: configuration[ExpertMLPPrefillTemplate.scaleEngine]))
            ]
        }
        let scatter = Stmt.op(
            .dmaAdd(
                dst: Access(y, [oneRow, .full(hidden)]).offset(0, by: tokenIndex),
                src: Access(outRows, [AffineRange(start: .term(row), size: 1), .full(hidden)]), queue: 3))
        perBlock.append(
            .loop(Loop(row, trips: rows, body: [.loop(Loop(rowLive, trips: 1, runtime: ownRow, body: [scatter]))])))
        // An empty block is skipped on the device: its flag is the count of a loop of one trip.
        let active = RuntimeCount(
            source: Access(activeSB, [.full(1), AffineRange(start: .term(block), size: 1)]),
            expected: .const(expectedBlocks) + .term(block, -1))
        let guarded = Loop(live, trips: 1, runtime: active, body: perBlock)
        body.append(.loop(Loop(block, trips: blocks, kind: .sequential, body: [.loop(guarded)])))
        return b.program(name: "expert_mlp_prefill_kernel", body: body)
    }
}
