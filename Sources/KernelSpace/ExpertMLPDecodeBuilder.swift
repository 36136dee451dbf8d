/// Builds the program of one ``ExpertMLPDecodeTemplate`` configuration: per token and selected
/// expert, the expert's weights arrive by DMAs offset by its index; gate/up accumulate over hidden
/// tiles in PSUM, the SiLU product is transposed onto partitions for the down projection, and the
/// weighted result is added into the token's row.
struct ExpertMLPDecodeBuilder {
    let problem: Problem
    let configuration: Configuration
    private var b = ProgramBuilder()

    init(problem: Problem, configuration: Configuration) {
        self.problem = problem
        self.configuration = configuration
    }

    private func engine(_ name: String) -> Engine { Engine(rawValue: configuration.choice(name)) ?? .vector }

    mutating func build() -> KernelProgram {
        let (tokens, hidden, columns, experts, k) = (
            problem.size("T"), problem.size("H"), problem.size("I"), problem.size("E"), problem.size("k")
        )
        let bufs = configuration.int("bufs")
        let downTile = min(configuration.int("down_tile"), hidden)
        let hiddenPartitions = min(128, hidden)
        let hiddenTiles = hidden / hiddenPartitions
        let columnTiles = (columns + 127) / 128
        let accumulatorType: DType = configuration.choice("acc_dtype") == "bf16" ? .bf16 : .fp32
        let x = b.buffer("x", .hbm, [tokens, hidden], .bf16, role: .input(0))
        let gateUp = b.buffer("gate_up", .hbm, [experts, hidden, 2 * columns], .bf16, role: .input(1))
        let down = b.buffer("down", .hbm, [experts, columns, hidden], .bf16, role: .input(2))
        let index = b.buffer("expert_index", .hbm, [tokens, k], .int32, role: .input(3))
        let weight = b.buffer("expert_weight", .hbm, [tokens, k], .fp32, role: .input(4))
        let y = b.buffer("y", .hbm, [tokens, hidden], .bf16, role: .output)
        let indexSB = b.buffer("expert_index_sb", .sbuf, [tokens, k], .int32)
        let weightSB = b.buffer("expert_weight_sb", .sbuf, [tokens, k], .fp32)
        let xRows = b.buffer("x_rows", .sbuf, [tokens, hidden], .bf16)
        let xT = b.buffer("x_t", .sbuf, [hiddenPartitions, hiddenTiles, tokens], .bf16)
        let flip = b.buffer("flip_psum", .psum, [128, 128], .fp32, copies: 2)
        let gateUpSB = b.buffer("gate_up_sb", .sbuf, [hiddenPartitions, hiddenTiles, 2 * columns], .bf16, copies: bufs)
        let downSB = b.buffer("down_sb", .sbuf, [128, columnTiles, hidden], .bf16, copies: bufs)
        let projected = b.buffer("gate_up_psum", .psum, [1, 2 * columns], .fp32, copies: 2)
        let activated = b.buffer("silu_gate", .sbuf, [1, columns], .bf16, copies: 2)
        let product = b.buffer("hidden_act", .sbuf, [1, columns], .bf16, copies: 2)
        let productT = b.buffer("hidden_act_t", .sbuf, [128, columnTiles, 1], .bf16, copies: 2)
        let downPSUM = b.buffer("down_psum", .psum, [1, downTile], .fp32, copies: 2)
        let scaled = b.buffer("scaled", .sbuf, [1, downTile], accumulatorType, copies: 2)
        let accumulator = b.buffer("expert_sum", .sbuf, [tokens, hidden], accumulatorType)
        let result = b.buffer("y_rows", .sbuf, [tokens, hidden], .bf16)
        let (t, slot, ht, it, chunk, lt) = (
            b.variable("t"), b.variable("j"), b.variable("ht"), b.variable("it"), b.variable("hc"), b.variable("lt")
        )
        let allRows = AffineRange.full(tokens)
        let tokenRow = AffineRange(start: .term(t), size: 1)
        let expertIndex = Access(indexSB, [tokenRow, AffineRange(start: .term(slot), size: 1)])
        let expertRow = AffineRange.index(.const(0))
        let hiddenTile = AffineRange(start: .term(ht, hiddenPartitions), size: hiddenPartitions)
        let columnStart = Affine.term(it, 128)
        let columnLimit: Affine? = columns % 128 == 0 ? nil : .const(columns) + (-columnStart)
        let columnRows = AffineRange(start: .const(0), size: 128, limit: columnLimit)

        // Routing and the token rows, once; x^T with the hidden size on partitions.
        let lhTile = AffineRange(start: .term(lt, hiddenPartitions), size: hiddenPartitions)
        let xFlip = Access(
            flip, [AffineRange(start: .const(0), size: hiddenPartitions), AffineRange(start: .const(0), size: tokens)])
        var body: [Stmt] = [
            .allocate(indexSB.id),
            .op(.dma(dst: Access(indexSB, [allRows, .full(k)]), src: Access(index, [allRows, .full(k)]), queue: 0)),
            .allocate(weightSB.id),
            .op(.dma(dst: Access(weightSB, [allRows, .full(k)]), src: Access(weight, [allRows, .full(k)]), queue: 0)),
            .allocate(xRows.id),
            .op(
                .dma(dst: Access(xRows, [allRows, .full(hidden)]), src: Access(x, [allRows, .full(hidden)]), queue: 0)),
            .allocate(xT.id),
            .loop(
                Loop(
                    lt, trips: hiddenTiles,
                    body: [
                        .allocate(flip.id), .op(.transpose(dst: xFlip, src: Access(xRows, [allRows, lhTile]))),
                        .op(
                            .copy(
                                dst: Access(xT, [.full(hiddenPartitions), .index(.term(lt)), .full(tokens)]),
                                src: xFlip,
                                engine: .vector)),
                    ])),
            .allocate(accumulator.id),
            .op(
                .memset(
                    dst: Access(accumulator, [allRows, .full(hidden)]), value: 0, engine: engine("accumulate_engine"))),
        ]

        // One selected expert of one token.
        var expert: [Stmt] = [.allocate(gateUpSB.id)]
        let gateUpSource = { (from: Int, width: Int) in
            Access(gateUp, [expertRow, hiddenTile, AffineRange(start: .const(from), size: width)]).offset(
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
        let both = Access(projected, [.full(1), .full(2 * columns)])
        expert += [
            .loop(Loop(ht, trips: hiddenTiles, body: loads)),
            .allocate(projected.id),
            .loop(
                Loop(
                    ht, trips: hiddenTiles,
                    body: [
                        .op(
                            .matmul(
                                dst: both,
                                stationary: Access(
                                    xT,
                                    [.full(hiddenPartitions), .index(.term(ht)), AffineRange(start: .term(t), size: 1)]),
                                moving: Access(
                                    gateUpSB, [.full(hiddenPartitions), .index(.term(ht)), .full(2 * columns)]),
                                accumulation: .acrossLoops([ht.id])))
                    ])),
            .allocate(activated.id),
            .op(
                .activation(
                    dst: Access(activated, [.full(1), .full(columns)]),
                    src: Access(projected, [.full(1), AffineRange(start: .const(0), size: columns)]), function: .silu)),
            .allocate(product.id),
            .op(
                .tensorTensor(
                    dst: Access(product, [.full(1), .full(columns)]), a: Access(activated, [.full(1), .full(columns)]),
                    b: Access(projected, [.full(1), AffineRange(start: .const(columns), size: columns)]), op: .multiply,
                    engine: engine("multiply_engine"))),
        ]
        // The product transposed onto partitions, and the expert's down weights.
        let piece = Access(product, [.full(1), AffineRange(start: columnStart, size: 128, limit: columnLimit)])
        let pieceFlip = Access(flip, [columnRows, AffineRange(start: .const(0), size: 1)])
        let downSource = Access(
            down, [expertRow, AffineRange(start: columnStart, size: 128, limit: columnLimit), .full(hidden)]
        )
        .offset(0, by: expertIndex)
        expert += [
            .allocate(productT.id), .allocate(downSB.id),
            .loop(
                Loop(
                    it, trips: columnTiles,
                    body: [
                        .allocate(flip.id), .op(.transpose(dst: pieceFlip, src: piece)),
                        .op(
                            .copy(
                                dst: Access(productT, [columnRows, .index(.term(it)), .full(1)]), src: pieceFlip,
                                engine: .vector)),
                        .op(
                            .dma(
                                dst: Access(downSB, [columnRows, .index(.term(it)), .full(hidden)]), src: downSource,
                                queue: 2)),
                    ])),
        ]
        // Down projection in hidden chunks, scaled by the routing weight and added to the token's row.
        let chunkColumns = AffineRange(start: .term(chunk, downTile), size: downTile)
        let partial = Access(downPSUM, [.full(1), .full(downTile)])
        let tokenSlice = Access(accumulator, [tokenRow, chunkColumns])
        let routingWeight = Access(weightSB, [tokenRow, AffineRange(start: .term(slot), size: 1)])
        expert.append(
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
                                            stationary: Access(productT, [columnRows, .index(.term(it)), .full(1)]),
                                            moving: Access(downSB, [columnRows, .index(.term(it)), chunkColumns]),
                                            accumulation: .acrossLoops([it.id])))
                                ])),
                        .allocate(scaled.id),
                        .op(
                            .tensorScalar(
                                dst: Access(scaled, [.full(1), .full(downTile)]), src: partial,
                                steps: [ScalarStep(.multiply, .perPartition(routingWeight))],
                                engine: engine("accumulate_engine"))),
                        .op(
                            .tensorTensor(
                                dst: tokenSlice, a: tokenSlice, b: Access(scaled, [.full(1), .full(downTile)]),
                                op: .add,
                                engine: engine("accumulate_engine"))),
                    ])))
        body.append(
            .loop(Loop(t, trips: tokens, body: [.loop(Loop(slot, trips: k, kind: .sequential, body: expert))])))
        body += [
            .allocate(result.id),
            .op(
                .copy(
                    dst: Access(result, [allRows, .full(hidden)]), src: Access(accumulator, [allRows, .full(hidden)]),
                    engine: .vector)),
            .op(
                .dma(
                    dst: Access(y, [allRows, .full(hidden)]), src: Access(result, [allRows, .full(hidden)]), queue: 0)),
        ]
        return b.program(name: "expert_mlp_decode_kernel", body: body)
    }
}
