extension ExpertMLPDecodeTemplate {
    /// The tile program of a configuration that passes the restrictions.
    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        var builder = ExpertMLPDecodeBuilder(shape: ExpertShape(problem), configuration: configuration)
        return builder.build()
    }
}

/// Builds the program of one ``ExpertMLPDecodeTemplate`` configuration: per token and selected
/// expert, an ``ExpertProjection`` of the token's row, scaled by the routing weight and added into
/// the token's row of the sum. Split over two cores, each core sums half of each token's experts;
/// the two partial sums meet in HBM and each core adds and writes half of the hidden columns.
private struct ExpertMLPDecodeBuilder {
    let shape: ExpertShape
    let configuration: Configuration
    private var b = ProgramBuilder()

    init(shape: ExpertShape, configuration: Configuration) {
        self.shape = shape
        self.configuration = configuration
    }

    mutating func build() -> KernelProgram {
        let (tokens, hidden, columns, experts, k) = shape.dimensions
        let accumulatorType = configuration[ExpertMLPDecodeTemplate.accumulatorType].dtype
        let x = b.buffer("x", .hbm, [tokens, hidden], .bf16, role: .input(0))
        let gateUp = b.buffer("gate_up", .hbm, [experts, hidden, 2 * columns], .bf16, role: .input(1))
        let down = b.buffer("down", .hbm, [experts, columns, hidden], .bf16, role: .input(2))
        let index = b.buffer("expert_index", .hbm, [tokens, k], .int32, role: .input(3))
        let weight = b.buffer("expert_weight", .hbm, [tokens, k], .fp32, role: .input(4))
        let y = b.buffer("y", .hbm, [tokens, hidden], .bf16, role: .output)
        let flip = b.buffer("flip_psum", .psum, [128, 128], .fp32, copies: 2)
        let projection = ExpertProjection(
            &b, rows: 1, shape: shape, downTile: configuration[ExpertMLPDecodeTemplate.downTile],
            bufs: configuration[ExpertMLPDecodeTemplate.bufs],
            gateUp: gateUp, down: down, flip: flip)
        let (partitions, hiddenTiles) = (projection.hiddenPartitions, projection.hiddenTiles)
        let indexSB = b.buffer("expert_index_sb", .sbuf, [tokens, k], .int32)
        let weightSB = b.buffer("expert_weight_sb", .sbuf, [tokens, k], .fp32)
        let xRows = b.buffer("x_rows", .sbuf, [tokens, hidden], .bf16)
        let xT = b.buffer("x_t", .sbuf, [partitions, hiddenTiles, tokens], .bf16)
        let scaled = b.buffer("scaled", .sbuf, [1, projection.downTile], accumulatorType, copies: 2)
        let accumulator = b.buffer("expert_sum", .sbuf, [tokens, hidden], accumulatorType)
        let result = b.buffer("y_rows", .sbuf, [tokens, hidden], .bf16)
        let (t, slot, lt) = (b.variable("t"), b.variable("j"), b.variable("lt"))
        let split = configuration[ExpertMLPDecodeTemplate.split] == .experts
        let core = split ? b.coreIndex() : nil
        let cores = split ? 2 : 1
        // The slot of the token's k choices this iteration handles: core c takes slots c*k/2 ..< (c+1)*k/2.
        let slotIndex = core.map { .term(slot) + .term($0, k / cores) } ?? .term(slot)
        let allRows = AffineRange.full(tokens)
        let tokenRow = AffineRange(start: .term(t), size: 1)
        var body: [Stmt] = [
            .allocate(indexSB.id),
            .op(.dma(dst: Access(indexSB, [allRows, .full(k)]), src: Access(index, [allRows, .full(k)]), queue: 0)),
            .allocate(weightSB.id),
            .op(.dma(dst: Access(weightSB, [allRows, .full(k)]), src: Access(weight, [allRows, .full(k)]), queue: 0)),
            .allocate(xRows.id),
            .op(
                .dma(dst: Access(xRows, [allRows, .full(hidden)]), src: Access(x, [allRows, .full(hidden)]), queue: 0)),
            .allocate(accumulator.id),
            .op(
                .memset(
                    dst: Access(accumulator, [allRows, .full(hidden)]), value: 0,
                    engine: configuration[ExpertMLPDecodeTemplate.accumulateEngine])),
        ]
        body += projection.transposeRows(xRows, rows: tokens, into: xT, variable: lt)
        let routingWeight = Access(weightSB, [tokenRow, AffineRange(start: slotIndex, size: 1)])
        let expert = projection.statements(
            expertIndex: Access(indexSB, [tokenRow, AffineRange(start: slotIndex, size: 1)]),
            stationary: Access(xT, [.full(partitions), .index(.term(projection.hiddenTile)), tokenRow]),
            fused: configuration[ExpertMLPDecodeTemplate.gateUp] == .fused,
            multiplyEngine: configuration[ExpertMLPDecodeTemplate.multiplyEngine]
        ) { partial, chunkColumns in
            let tokenSlice = Access(accumulator, [tokenRow, chunkColumns])
            let weighted = Access(scaled, [.full(1), partial.ranges[1]])
            return [
                .allocate(scaled.id),
                .op(
                    .tensorScalar(
                        dst: weighted, src: partial, steps: [ScalarStep(.multiply, .perPartition(routingWeight))],
                        engine: configuration[ExpertMLPDecodeTemplate.accumulateEngine])),
                .op(
                    .tensorTensor(
                        dst: tokenSlice, a: tokenSlice, b: weighted, op: .add,
                        engine: configuration[ExpertMLPDecodeTemplate.accumulateEngine])),
            ]
        }
        body.append(
            .loop(Loop(t, trips: tokens, body: [.loop(Loop(slot, trips: k / cores, kind: .sequential, body: expert))])))
        if let core {
            body += combine(accumulator, into: y, core: core, accumulatorType: accumulatorType)
            return b.program(name: "expert_mlp_decode_kernel", body: body, cores: cores, coreVariable: core)
        }
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

    /// Each core writes its partial sum to its half of `partials [T, 2H]` in HBM; after the barrier
    /// core c adds the two partials' columns c*H/2 ..< (c+1)*H/2 and writes them to `y`.
    private mutating func combine(
        _ accumulator: BufferDecl, into y: BufferDecl, core: LoopVar, accumulatorType: DType
    ) -> [Stmt] {
        let (tokens, hidden) = (shape.tokens, shape.hidden)
        let half = hidden / 2
        let engine = configuration[ExpertMLPDecodeTemplate.accumulateEngine]
        let partials = b.buffer("partials", .hbm, [tokens, 2 * hidden], accumulatorType)
        let mine = b.buffer("partial_0", .sbuf, [tokens, half], accumulatorType)
        let other = b.buffer("partial_1", .sbuf, [tokens, half], accumulatorType)
        let sum = b.buffer("y_half", .sbuf, [tokens, half], .bf16)
        let rows = AffineRange.full(tokens)
        let halfColumns = AffineRange(start: .term(core, half), size: half)
        let partialOf = { (source: Int) in
            Access(partials, [rows, AffineRange(start: .term(core, half) + source * hidden, size: half)])
        }
        return [
            .op(
                .dma(
                    dst: Access(partials, [rows, AffineRange(start: .term(core, hidden), size: hidden)]),
                    src: Access(accumulator, [rows, .full(hidden)]), queue: 0)),
            .barrier(partials.id),
            .allocate(mine.id),
            .op(.dma(dst: Access(mine, [rows, .full(half)]), src: partialOf(0), queue: 0)),
            .allocate(other.id),
            .op(.dma(dst: Access(other, [rows, .full(half)]), src: partialOf(1), queue: 1)),
            .allocate(sum.id),
            .op(
                .tensorTensor(
                    dst: Access(sum, [rows, .full(half)]), a: Access(mine, [rows, .full(half)]),
                    b: Access(other, [rows, .full(half)]), op: .add, engine: engine)),
            .op(.dma(dst: Access(y, [rows, halfColumns]), src: Access(sum, [rows, .full(half)]), queue: 0)),
        ]
    }
}
