/// Builds the program of one ``ExpertMLPPrefillTemplate`` configuration.
struct ExpertMLPPrefillBuilder {
    let problem: Problem
    let configuration: Configuration
    /// Blocks of the routing at this block size.
    let blocks: Int
    private var b = ProgramBuilder()

    init(problem: Problem, configuration: Configuration, blocks: Int) {
        self.problem = problem
        self.configuration = configuration
        self.blocks = blocks
    }

    private func engine(_ name: String) -> Engine { Engine(rawValue: configuration.choice(name)) ?? .vector }

    mutating func build() -> KernelProgram {
        let (tokens, hidden, columns, experts) = (
            problem.size("T"), problem.size("H"), problem.size("I"), problem.size("E")
        )
        let rows = configuration.int("block")
        let bufs = configuration.int("bufs")
        let downTile = min(configuration.int("down_tile"), hidden)
        let hiddenPartitions = min(128, hidden)
        let hiddenTiles = hidden / hiddenPartitions
        let columnTiles = (columns + 127) / 128
        let zeroRows = min(128, tokens)
        let x = b.buffer("x", .hbm, [tokens, hidden], .bf16, role: .input(0))
        let gateUp = b.buffer("gate_up", .hbm, [experts, hidden, 2 * columns], .bf16, role: .input(1))
        let down = b.buffer("down", .hbm, [experts, columns, hidden], .bf16, role: .input(2))
        let blockExpert = b.buffer("block_expert", .hbm, [1, blocks], .int32, role: .input(3))
        let blockToken = b.buffer("block_token", .hbm, [1, blocks * rows], .int32, role: .input(4))
        let blockWeight = b.buffer("block_weight", .hbm, [blocks * rows, 1], .fp32, role: .input(5))
        let y = b.buffer("y", .hbm, [tokens, hidden], .bf16, role: .output)
        let expertSB = b.buffer("block_expert_sb", .sbuf, [1, blocks], .int32)
        let tokenSB = b.buffer("block_token_sb", .sbuf, [1, blocks * rows], .int32)
        let zero = b.buffer("zero_rows", .sbuf, [zeroRows, hidden], .bf16)
        let gathered = b.buffer("x_block", .sbuf, [rows, hidden], .bf16, copies: bufs)
        let weights = b.buffer("row_weight", .sbuf, [rows, 1], .fp32, copies: bufs)
        let xT = b.buffer("x_block_t", .sbuf, [hiddenPartitions, hiddenTiles, rows], .bf16, copies: 2)
        let flip = b.buffer("flip_psum", .psum, [128, 128], .fp32, copies: 2)
        let gateUpSB = b.buffer("gate_up_sb", .sbuf, [hiddenPartitions, hiddenTiles, 2 * columns], .bf16, copies: bufs)
        let downSB = b.buffer("down_sb", .sbuf, [128, columnTiles, hidden], .bf16, copies: bufs)
        let projected = b.buffer("gate_up_psum", .psum, [rows, 2 * columns], .fp32, copies: 2)
        let activated = b.buffer("silu_gate", .sbuf, [rows, columns], .bf16, copies: 2)
        let product = b.buffer("hidden_act", .sbuf, [rows, columns], .bf16, copies: 2)
        let productT = b.buffer("hidden_act_t", .sbuf, [128, columnTiles, rows], .bf16, copies: 2)
        let downPSUM = b.buffer("down_psum", .psum, [rows, downTile], .fp32, copies: 2)
        let outRows = b.buffer("out_rows", .sbuf, [rows, hidden], .bf16, copies: 2)
        let (block, row, ht, it, chunk, lt, zt) = (
            b.variable("blk"), b.variable("r"), b.variable("ht"), b.variable("it"), b.variable("hc"), b.variable("lt"),
            b.variable("zt")
        )
        let allRows = AffineRange.full(rows)
        let expertIndex = Access(expertSB, [.full(1), AffineRange(start: .term(block), size: 1)])
        let tokenIndex = Access(tokenSB, [.full(1), AffineRange(start: .term(block, rows) + .term(row), size: 1)])
        let oneRow = AffineRange(start: .const(0), size: 1)
        let zeroStart = Affine.term(zt, zeroRows)
        let zeroLimit: Affine? = tokens % zeroRows == 0 ? nil : .const(tokens) + (-zeroStart)
        var body: [Stmt] = [
            .allocate(expertSB.id),
            .op(
                .dma(
                    dst: Access(expertSB, [.full(1), .full(blocks)]),
                    src: Access(blockExpert, [.full(1), .full(blocks)]), queue: 0)),
            .allocate(tokenSB.id),
            .op(
                .dma(
                    dst: Access(tokenSB, [.full(1), .full(blocks * rows)]),
                    src: Access(blockToken, [.full(1), .full(blocks * rows)]),
                    queue: 0)),
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
        // Gather the block's rows and weights; x^T for the projections.
        let hiddenTile = { (variable: LoopVar) in
            AffineRange(start: .term(variable, hiddenPartitions), size: hiddenPartitions)
        }
        let xFlip = Access(
            flip, [AffineRange(start: .const(0), size: hiddenPartitions), AffineRange(start: .const(0), size: rows)])
        var perBlock: [Stmt] = [
            .allocate(gathered.id),
            .loop(
                Loop(
                    row, trips: rows,
                    body: [
                        .op(
                            .dma(
                                dst: Access(gathered, [AffineRange(start: .term(row), size: 1), .full(hidden)]),
                                src: Access(x, [oneRow, .full(hidden)]).offset(0, by: tokenIndex), queue: 0))
                    ])),
            .allocate(weights.id),
            .op(
                .dma(
                    dst: Access(weights, [allRows, .full(1)]),
                    src: Access(blockWeight, [AffineRange(start: .term(block, rows), size: rows), .full(1)]), queue: 0)),
            .allocate(xT.id),
            .loop(
                Loop(
                    lt, trips: hiddenTiles,
                    body: [
                        .allocate(flip.id),
                        .op(.transpose(dst: xFlip, src: Access(gathered, [allRows, hiddenTile(lt)]))),
                        .op(
                            .copy(
                                dst: Access(xT, [.full(hiddenPartitions), .index(.term(lt)), allRows]), src: xFlip,
                                engine: .vector)),
                    ])),
            .allocate(gateUpSB.id),
        ]
        let gateUpSource = { (from: Int, width: Int) in
            Access(gateUp, [.index(.const(0)), hiddenTile(ht), AffineRange(start: .const(from), size: width)]).offset(
                0, by: expertIndex)
        }
        let gateUpTarget = { (from: Int, width: Int) in
            Access(
                gateUpSB, [.full(hiddenPartitions), .index(.term(ht)), AffineRange(start: .const(from), size: width)])
        }
        let loads: [Stmt] =
            configuration.choice("gate_up") == "fused"
            ? [.op(.dma(dst: gateUpTarget(0, 2 * columns), src: gateUpSource(0, 2 * columns), queue: 1))]
            : [
                .op(.dma(dst: gateUpTarget(0, columns), src: gateUpSource(0, columns), queue: 1)),
                .op(.dma(dst: gateUpTarget(columns, columns), src: gateUpSource(columns, columns), queue: 3)),
            ]
        let both = Access(projected, [allRows, .full(2 * columns)])
        perBlock += [
            .loop(Loop(ht, trips: hiddenTiles, body: loads)),
            .allocate(projected.id),
            .loop(
                Loop(
                    ht, trips: hiddenTiles,
                    body: [
                        .op(
                            .matmul(
                                dst: both,
                                stationary: Access(xT, [.full(hiddenPartitions), .index(.term(ht)), allRows]),
                                moving: Access(
                                    gateUpSB, [.full(hiddenPartitions), .index(.term(ht)), .full(2 * columns)]),
                                accumulation: .acrossLoops([ht.id])))
                    ])),
            .allocate(activated.id),
            .op(
                .activation(
                    dst: Access(activated, [allRows, .full(columns)]),
                    src: Access(projected, [allRows, AffineRange(start: .const(0), size: columns)]), function: .silu)),
            .allocate(product.id),
            .op(
                .tensorTensor(
                    dst: Access(product, [allRows, .full(columns)]), a: Access(activated, [allRows, .full(columns)]),
                    b: Access(projected, [allRows, AffineRange(start: .const(columns), size: columns)]), op: .multiply,
                    engine: engine("multiply_engine"))),
        ]
        let columnStart = Affine.term(it, 128)
        let columnLimit: Affine? = columns % 128 == 0 ? nil : .const(columns) + (-columnStart)
        let columnRows = AffineRange(start: .const(0), size: 128, limit: columnLimit)
        let pieceFlip = Access(flip, [columnRows, allRows])
        perBlock += [
            .allocate(productT.id), .allocate(downSB.id),
            .loop(
                Loop(
                    it, trips: columnTiles,
                    body: [
                        .allocate(flip.id),
                        .op(
                            .transpose(
                                dst: pieceFlip,
                                src: Access(
                                    product, [allRows, AffineRange(start: columnStart, size: 128, limit: columnLimit)]))
                        ),
                        .op(
                            .copy(
                                dst: Access(productT, [columnRows, .index(.term(it)), allRows]), src: pieceFlip,
                                engine: .vector)),
                        .op(
                            .dma(
                                dst: Access(downSB, [columnRows, .index(.term(it)), .full(hidden)]),
                                src: Access(
                                    down,
                                    [
                                        .index(.const(0)),
                                        AffineRange(start: columnStart, size: 128, limit: columnLimit), .full(hidden),
                                    ]
                                ).offset(0, by: expertIndex), queue: 2)),
                    ])),
        ]
        // Down projection in hidden chunks, weighted rows, scatter-added into the output.
        let chunkColumns = AffineRange(start: .term(chunk, downTile), size: downTile)
        let partial = Access(downPSUM, [allRows, .full(downTile)])
        perBlock += [
            .allocate(outRows.id),
            .loop(
                Loop(
                    chunk, trips: hidden / downTile,
                    body: [
                        .allocate(downPSUM.id),
                        .loop(
                            Loop(
                                it, trips: columnTiles,
                                body: [
                                    .op(
                                        .matmul(
                                            dst: partial,
                                            stationary: Access(productT, [columnRows, .index(.term(it)), allRows]),
                                            moving: Access(downSB, [columnRows, .index(.term(it)), chunkColumns]),
                                            accumulation: .acrossLoops([it.id])))
                                ])),
                        .op(
                            .tensorScalar(
                                dst: Access(outRows, [allRows, chunkColumns]), src: partial,
                                steps: [ScalarStep(.multiply, .perPartition(Access(weights, [allRows, .full(1)])))],
                                engine: engine("scale_engine"))),
                    ])),
            .loop(
                Loop(
                    row, trips: rows,
                    body: [
                        .op(
                            .dmaAdd(
                                dst: Access(y, [oneRow, .full(hidden)]).offset(0, by: tokenIndex),
                                src: Access(outRows, [AffineRange(start: .term(row), size: 1), .full(hidden)]), queue: 3
                            ))
                    ])),
        ]
        body.append(.loop(Loop(block, trips: blocks, kind: .sequential, body: perBlock)))
        return b.program(name: "expert_mlp_prefill_kernel", body: body)
    }
}
