extension ExpertMLPPrefillTemplate {
    /// The tile program of a configuration that passes the restrictions.
    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        let cores = Self.cores(configuration)
        let shape = ExpertShape(problem)
        let size = configuration[Self.block]
        // The busier core's share of the scenario's blocks (``blocks(indices:weights:shape:size:cores:)``).
        let usedBlocks = Self.usedBlocks(problem, size: size)
        let used = (usedBlocks + cores - 1) / cores
        // The rows a used block holds on average (the rest are padding the gather skips).
        let rows = (shape.tokens * shape.k + usedBlocks - 1) / max(1, usedBlocks)
        var builder = ExpertMLPPrefillBuilder(
            shape: shape, configuration: configuration,
            blocks: Self.blockBound(shape, size: size, cores: cores) / cores, expectedBlocks: used, expectedRows: rows,
            cores: cores)
        let program = builder.build()
        guard cores > 1 else { return program }
        // Each core runs its share of the block tables into its own partial output; then they add
        // the partials' first T rows (the rows past them take the padding rows' scatter-adds).
        let (inputs, output) = (program.inputs, program.outputs[0].id)
        let slices = [inputs[3].id: 1, inputs[4].id: 1, inputs[5].id: 1, inputs[6].id: 1, output: 1]
        return program.spread(over: cores, slicing: slices)
            .summingPartials(of: output, engine: .vector, rows: shape.tokens)
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
    /// Cores sharing the blocks: with more than one, the scatter target is the output the caller
    /// turns into partial sums.
    let cores: Int
    private var b = ProgramBuilder()

    init(
        shape: ExpertShape, configuration: Configuration, blocks: Int, expectedBlocks: Int, expectedRows: Int,
        cores: Int
    ) {
        self.shape = shape
        self.configuration = configuration
        self.blocks = blocks
        self.expectedBlocks = expectedBlocks
        self.expectedRows = expectedRows
        self.cores = cores
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
        // A block's rows' tokens and weights are a column of these, one row a partition.
        let blockToken = b.buffer("block_token", .hbm, [rows, blocks], .int32, role: .input(4))
        let blockWeight = b.buffer("block_weight", .hbm, [rows, blocks], .fp32, role: .input(5))
        let blockActive = b.buffer("block_active", .hbm, [1, blocks], .int32, role: .input(6))
        // A padding row's token index is T + its slot: its scatter-add lands past the T rows the
        // output keeps, and every index of a block is distinct (as an indirect accumulate wants).
        let y: BufferDecl
        let sums: BufferDecl
        if cores > 1 {
            sums = b.buffer("y", .hbm, [tokens + rows, hidden], .bf16, role: .output)
            y = sums
        } else {
            y = b.buffer("y", .hbm, [tokens, hidden], .bf16, role: .output)
            sums = b.buffer("y_rows", .hbm, [tokens + rows, hidden], .bf16, role: .scratch)
        }
        let flip = b.buffer("flip_psum", .psum, [128, 128], .fp32, copies: 2)
        let projection = ExpertProjection(
            &b, rows: rows, shape: shape, downTile: configuration[ExpertMLPPrefillTemplate.downTile], bufs: bufs,
            gateUp: gateUp,
            down: down, flip: flip, hiddenOrder: configuration[ExpertMLPPrefillTemplate.hiddenOrder])
        let (partitions, hiddenTiles) = (projection.hiddenPartitions, projection.hiddenTiles)
        let expertSB = b.buffer("block_expert_sb", .sbuf, [1, blocks], .int32)
        let activeSB = b.buffer("block_active_sb", .sbuf, [1, blocks], .int32)
        let zero = b.buffer("zero_rows", .sbuf, [zeroRows, hidden], .bf16)
        let tokenSB = b.buffer("block_token_sb", .sbuf, [rows, blocks], .int32)
        let weightSB = b.buffer("block_weight_sb", .sbuf, [rows, blocks], .fp32)
        let gathered = b.buffer("x_block", .sbuf, [rows, hidden], .bf16, copies: bufs)
        let xT = b.buffer("x_block_t", .sbuf, [partitions, hiddenTiles, rows], .bf16, copies: 2)
        let outRows = b.buffer("out_rows", .sbuf, [rows, hidden], .bf16, copies: 2)
        let (block, lt, zt, live) = (b.variable("blk"), b.variable("lt"), b.variable("zt"), b.variable("live"))
        let allRows = AffineRange.full(rows)
        let zeroStart = Affine.term(zt, zeroRows)
        let zeroLimit: Affine? = tokens % zeroRows == 0 ? nil : .const(tokens) + (-zeroStart)
        let zeroTile = AffineRange(start: .const(0), size: zeroRows, limit: zeroLimit)
        let outputTile = AffineRange(start: zeroStart, size: zeroRows, limit: zeroLimit)
        // The block tables, whole, into SBUF once.
        func load(_ table: BufferDecl, into onChip: BufferDecl) -> [Stmt] {
            let whole = [AffineRange.full(table.shape[0]), .full(table.shape[1])]
            return [
                .allocate(onChip.id), .op(.dma(dst: Access(onChip, whole), src: Access(table, whole), queue: 0)),
            ]
        }
        // The T rows the blocks add into start at zero.
        var body: [Stmt] =
            load(blockExpert, into: expertSB) + load(blockActive, into: activeSB) + load(blockToken, into: tokenSB)
            + load(blockWeight, into: weightSB)
        body += [
            .allocate(zero.id),
            .op(.memset(dst: Access(zero, [.full(zeroRows), .full(hidden)]), value: 0, engine: .vector)),
            .loop(
                Loop(
                    zt, trips: (tokens + zeroRows - 1) / zeroRows,
                    body: [
                        .op(
                            .dma(
                                dst: Access(sums, [outputTile, .full(hidden)]),
                                src: Access(zero, [zeroTile, .full(hidden)]),
                                queue: 2))
                    ])),
        ]
        let indices = Access(tokenSB, [allRows, .index(.term(block))])
        let weights = Access(weightSB, [allRows, .index(.term(block))])
        // One indirect DMA gathers a block's rows and one scatter-adds them. The gather skips the
        // padding rows (their index is past x), which keep the zeros set first: a padding row's
        // values are then 0 through the projection, and its weight is 0.
        var perBlock: [Stmt] = [
            .allocate(gathered.id),
            .op(.memset(dst: Access(gathered, [allRows, .full(hidden)]), value: 0, engine: .gpsimd)),
            .op(
                .dma(
                    dst: Access(gathered, [allRows, .full(hidden)]),
                    src: Access(x, [allRows, .full(hidden)]).rows(
                        at: indices, skippingOutOfRange: true, expectedRows: expectedRows), queue: 0)),
        ]
        perBlock += projection.transposeRows(
            gathered, rows: rows, into: xT, variable: lt,
            copyEngine: configuration[ExpertMLPPrefillTemplate.transposeEngine])
        perBlock.append(.allocate(outRows.id))
        perBlock += projection.statements(
            expertIndex: Access(expertSB, [.full(1), AffineRange(start: .term(block), size: 1)]),
            stationary: Access(xT, [.full(partitions), .index(.term(projection.hiddenTile)), allRows]),
            fused: configuration[ExpertMLPPrefillTemplate.gateUp] == .fused
        ) { partial, chunkColumns in
            [
                .op(
                    .tensorScalar(
                        dst: Access(outRows, [allRows, chunkColumns]), src: partial,
                        steps: [ScalarStep(.multiply, .perPartition(weights))],
                        engine: configuration[ExpertMLPPrefillTemplate.scaleEngine]))
            ]
        }
        perBlock.append(
            .op(
                .dmaAdd(
                    dst: Access(sums, [allRows, .full(hidden)]).rows(at: indices),
                    src: Access(outRows, [allRows, .full(hidden)]), queue: 3)))
        // An empty block is skipped on the device: its flag is the count of a loop of one trip.
        let active = RuntimeCount(
            source: Access(activeSB, [.full(1), AffineRange(start: .term(block), size: 1)]),
            expected: .const(expectedBlocks) + .term(block, -1))
        let guarded = Loop(live, trips: 1, runtime: active, body: perBlock)
        body.append(.loop(Loop(block, trips: blocks, kind: .sequential, body: [.loop(guarded)])))
        if cores == 1 {
            // The output keeps the first T rows.
            let copied = b.variable("ct")
            let sumsTile = AffineRange(
                start: .term(copied, zeroRows), size: zeroRows,
                limit: zeroLimit.map { _ in
                    .const(tokens) + .term(copied, -zeroRows)
                })
            body.append(
                .loop(
                    Loop(
                        copied, trips: (tokens + zeroRows - 1) / zeroRows,
                        body: [
                            .op(
                                .dma(
                                    dst: Access(y, [sumsTile, .full(hidden)]),
                                    src: Access(sums, [sumsTile, .full(hidden)]), queue: 2))
                        ])))
        }
        return b.program(name: "expert_mlp_prefill_kernel", body: body)
    }
}
