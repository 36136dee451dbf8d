extension ExpertMLPDecodeTemplate {
    /// The tile program of a configuration that passes the restrictions.
    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        if configuration[Self.split] == .expertsHidden {
            var builder = StationaryExpertBuilder(
                shape: ExpertShape(problem), configuration: configuration, partial: false)
            return builder.buildExchange()
        }
        // Split over the cores, each core sums half of each token's choices into its own partial
        // sum; the cores then add them.
        let split = configuration[Self.split] == .experts
        let shape = ExpertShape(split ? problem.with(ExpertShape.topK, problem[ExpertShape.topK] / 2) : problem)
        let program: KernelProgram
        // Set when the program adds the cores' sums into the output itself.
        var core: LoopVar?
        if configuration[Self.weights] == .stationary {
            var builder = StationaryExpertBuilder(shape: shape, configuration: configuration, partial: split)
            program = builder.build()
            core = builder.core
        } else {
            var builder = ExpertMLPDecodeBuilder(shape: shape, configuration: configuration, partial: split)
            program = builder.build()
        }
        guard split else { return program }
        // Each core reads its half of every token's choices.
        let (inputs, output) = (program.inputs, program.outputs[0].id)
        let choices = [inputs[3].id: 1, inputs[4].id: 1]
        if let core { return program.spread(over: 2, slicing: choices, coreVariable: core.id) }
        return program.spread(over: 2, slicing: choices.merging([output: 1]) { $1 })
            .summingPartials(of: output, engine: .vector, as: .bf16)
    }
}

/// The HBM arguments and the output of an ``ExpertMLPDecodeTemplate`` program, in argument order.
struct ExpertMLPDecodeArguments {
    let x: BufferDecl
    let gateUp: BufferDecl
    let down: BufferDecl
    let index: BufferDecl
    let weight: BufferDecl
    /// The sum over experts: bf16, or one core's partial sum in `partialType`.
    let y: BufferDecl

    init(_ b: inout ProgramBuilder, shape: ExpertShape, partialType: DType?) {
        let (tokens, hidden, columns, experts, k) = shape.dimensions
        x = b.buffer("x", .hbm, [tokens, hidden], .bf16, role: .input(0))
        gateUp = b.buffer("gate_up", .hbm, [experts, hidden, 2 * columns], .bf16, role: .input(1))
        down = b.buffer("down", .hbm, [experts, columns, hidden], .bf16, role: .input(2))
        index = b.buffer("expert_index", .hbm, [tokens, k], .int32, role: .input(3))
        weight = b.buffer("expert_weight", .hbm, [tokens, k], .fp32, role: .input(4))
        y = b.buffer("y", .hbm, [tokens, hidden], partialType ?? .bf16, role: .output)
    }
}

/// Builds the program of one ``ExpertMLPDecodeTemplate`` configuration: per token and selected
/// expert, an ``ExpertProjection`` of the token's row, scaled by the routing weight and added into
/// the token's row of the sum. As one core's part of a split, the sum is written unrounded (the
/// accumulator's type) for the cores to add.
struct ExpertMLPDecodeBuilder {
    let shape: ExpertShape
    let configuration: Configuration
    private var b = ProgramBuilder()

    /// Whether the output is one core's partial sum, in the accumulator's type.
    let partial: Bool

    init(shape: ExpertShape, configuration: Configuration, partial: Bool) {
        self.shape = shape
        self.configuration = configuration
        self.partial = partial
    }

    mutating func build() -> KernelProgram {
        let (tokens, hidden, _, _, k) = shape.dimensions
        let accumulatorType = configuration[ExpertMLPDecodeTemplate.accumulatorType].dtype
        let arguments = ExpertMLPDecodeArguments(&b, shape: shape, partialType: partial ? accumulatorType : nil)
        let (x, gateUp, down, index, weight, y) = (
            arguments.x, arguments.gateUp, arguments.down, arguments.index, arguments.weight, arguments.y
        )
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
                    engine: .vector)),
        ]
        body += projection.transposeRows(xRows, rows: tokens, into: xT, variable: lt)
        let routingWeight = Access(weightSB, [tokenRow, AffineRange(start: .term(slot), size: 1)])
        let expert = projection.statements(
            expertIndex: Access(indexSB, [tokenRow, AffineRange(start: .term(slot), size: 1)]),
            stationary: Access(xT, [.full(partitions), .index(.term(projection.hiddenTile)), tokenRow]),
            fused: configuration[ExpertMLPDecodeTemplate.gateUp] == .fused
        ) { partial, chunkColumns in
            let tokenSlice = Access(accumulator, [tokenRow, chunkColumns])
            let weighted = Access(scaled, [.full(1), partial.ranges[1]])
            return [
                .allocate(scaled.id),
                .op(
                    .tensorScalar(
                        dst: weighted, src: partial, steps: [ScalarStep(.multiply, .perPartition(routingWeight))],
                        engine: .vector)),
                .op(
                    .tensorTensor(
                        dst: tokenSlice, a: tokenSlice, b: weighted, op: .add,
                        engine: .vector)),
            ]
        }
        body.append(
            .loop(Loop(t, trips: tokens, body: [.loop(Loop(slot, trips: k, kind: .sequential, body: expert))])))
        if partial {
            body.append(
                .op(
                    .dma(
                        dst: Access(y, [allRows, .full(hidden)]), src: Access(accumulator, [allRows, .full(hidden)]),
                        queue: 0)))
            return b.program(name: "expert_mlp_decode_kernel", body: body)
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
}
