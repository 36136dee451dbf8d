/// Builds the program of an ``ExpertMLPDecodeTemplate`` configuration with `weights=stationary`:
/// the experts' weights are the stationary operand, 128 x 128 at a time, and the token's column
/// moves. The hidden size lies on partitions interleaved, `h = p * H/128 + ht` (as a `[128, H/128]`
/// reshape of a row would), so a token's row, an expert's whole `gate_up` matrix (12 KiB per
/// partition at H = 2048) and the output row each move in one contiguous DMA with no transpose.
/// Gate and up come out transposed (`[I, 1]`), the moving operand the down projection needs; the
/// down projection reads its weights' columns with stride H/128 so that its result lands in the
/// same interleaved layout, and the weighted sum over experts runs on `[128, H/128]` (16 elements
/// per partition at H = 2048 instead of 2048 on one). The routing weights, needed on every
/// partition, load as one row and reach the partitions through an fp32 matmul with a row of ones.
///
/// Every sum runs in the order of the `moving` program (PSUM accumulation over hidden tiles, then
/// intermediate tiles; the weighted sum over experts in slot order) and the layouts only move
/// values, so both orientations compute the same bits.
struct StationaryExpertBuilder {
    let shape: ExpertShape
    let configuration: Configuration
    /// Whether the output is one core's partial sum, in the accumulator's type.
    let partial: Bool
    /// The running core's index when the cores add their bf16 sums themselves
    /// (``accumulatesAcrossCores``): set by ``build()``, for ``KernelProgram/spread(over:slicing:coreVariable:)``.
    private(set) var core: LoopVar?
    var b = ProgramBuilder()

    init(shape: ExpertShape, configuration: Configuration, partial: Bool) {
        self.shape = shape
        self.configuration = configuration
        self.partial = partial
    }

    typealias Key = ExpertMLPDecodeTemplate

    /// Whether the cores of a split add their sums into the output themselves: each stores its
    /// half of the hidden columns, and after a barrier adds its sum of the other half into the
    /// other core's with an accumulating DMA. That rounds once, as adding the partials in fp32
    /// and rounding does, only when the sums are bf16 already; fp32 sums go through
    /// ``KernelProgram/summingPartials(of:engine:as:rows:)``.
    var accumulatesAcrossCores: Bool { partial && configuration[Key.accumulatorType] == .bf16 }

    /// One expert's gate and up projections of a token and SiLU(gate) * up, transposed: the
    /// buffers and loop variables, and the statements for the expert at `expertIndex`.
    struct Activation {
        let partitions: Int
        let hiddenTiles: Int
        let columnTiles: Int
        /// `[partitions, H / partitions, T]`: the tokens in the interleaved hidden layout.
        let xT: BufferDecl
        /// SiLU(gate) * up of intermediate tile `it`, `[rows of the tile, 1]`.
        let product: Access
        /// The intermediate tile variable.
        let it: LoopVar
        /// Rows of intermediate tile `it` (the last is cut to what remains of I).
        let columnRows: AffineRange
        /// Loads the expert's `gate_up`.
        let load: [Stmt]
        /// Projects and leaves SiLU(gate) * up in `product`.
        let compute: [Stmt]
    }

    /// Declares the gate/up stage of token `token` through the expert at `expertIndex`. The
    /// product goes to `[128, I tiles]` rotating copies, or to `output` (`[128, ..., I tiles]`)
    /// at the indices `at` between the rows and the tile.
    mutating func activation(
        _ arguments: ExpertMLPDecodeArguments, token: LoopVar, expertIndex: Access,
        output: (buffer: BufferDecl, at: [AffineRange])? = nil
    ) -> Activation {
        let (tokens, hidden, columns, _, _) = shape.dimensions
        let partitions = min(128, hidden)
        let hiddenTiles = hidden / partitions
        let columnTiles = (columns + 127) / 128
        let gateUpSB = b.buffer(
            "gate_up_sb", .sbuf, [partitions, hiddenTiles, 2 * columns], .bf16, copies: configuration[Key.bufs])
        let projected = b.buffer("gate_up_t_psum", .psum, [128, 2 * columnTiles], .fp32, copies: 2)
        let activated = b.buffer("silu_gate_t", .sbuf, [128, columnTiles], .bf16, copies: 2)
        let xT = b.buffer("x_t", .sbuf, [partitions, hiddenTiles, tokens], .bf16)
        let (ht, it, half) = (b.variable("ht"), b.variable("it"), b.variable("half"))
        let columnLimit: Affine? = columns % 128 == 0 ? nil : .const(columns) + (-Affine.term(it, 128))
        let columnRows = AffineRange(start: .const(0), size: 128, limit: columnLimit)
        let productBuffer = output?.buffer ?? b.buffer("hidden_act_t", .sbuf, [128, columnTiles], .bf16, copies: 2)
        let product =
            output.map { Access($0.buffer, [columnRows] + $0.at + [.index(.term(it))]) }
            ?? Access(productBuffer, [columnRows, .index(.term(it))])
        // Gate (half 0) and up (half 1), transposed: [I tile, 1] per intermediate tile, summed
        // over the hidden tiles in PSUM.
        let gateUpColumns = AffineRange(start: .term(half, columns) + .term(it, 128), size: 128, limit: columnLimit)
        let projection: [Stmt] = [
            .op(
                .matmul(
                    dst: Access(projected, [columnRows, .index(.term(half, columnTiles) + .term(it))]),
                    stationary: Access(gateUpSB, [.full(partitions), .index(.term(ht)), gateUpColumns]),
                    moving: Access(xT, [.full(partitions), .index(.term(ht)), .index(.term(token))]),
                    accumulation: .acrossLoops([ht.id])))
        ]
        let activatedT = Access(activated, [columnRows, .index(.term(it))])
        let elementwise: [Stmt] = [
            .op(
                .activation(dst: activatedT, src: Access(projected, [columnRows, .index(.term(it))]), function: .silu)),
            .op(
                .tensorTensor(
                    dst: product, a: activatedT,
                    b: Access(projected, [columnRows, .index(.term(it) + columnTiles)]), op: .multiply,
                    engine: .vector)),
        ]
        let load: [Stmt] = [
            .allocate(gateUpSB.id),
            .op(
                .dma(
                    dst: Access(gateUpSB, [.full(partitions), .full(hiddenTiles), .full(2 * columns)]),
                    src: Access(arguments.gateUp, [.index(.const(0)), .full(hidden), .full(2 * columns)])
                        .offset(0, by: expertIndex),
                    queue: 1)),
        ]
        let compute: [Stmt] =
            [
                .allocate(projected.id),
                .loop(
                    Loop(
                        half, trips: 2,
                        body: [
                            .loop(
                                Loop(
                                    it, trips: columnTiles,
                                    body: [.loop(Loop(ht, trips: hiddenTiles, body: projection))]))
                        ])),
                .allocate(activated.id),
            ] + (output == nil ? [.allocate(productBuffer.id)] : []) + [
                .loop(Loop(it, trips: columnTiles, body: elementwise))
            ]
        return Activation(
            partitions: partitions, hiddenTiles: hiddenTiles, columnTiles: columnTiles, xT: xT, product: product,
            it: it, columnRows: columnRows, load: load, compute: compute)
    }

    /// A token's routing weights on `partitions` partitions, `[partitions, k]`: the statements that
    /// set up once, those per token, and the buffer.
    mutating func routingWeights(_ arguments: ExpertMLPDecodeArguments, token: LoopVar, partitions: Int)
        -> (setup: [Stmt], perToken: [Stmt], weights: BufferDecl)
    {
        let k = shape.k
        let weightRow = b.buffer("expert_weight_sb", .sbuf, [1, k], .fp32, copies: 2)
        let ones = b.buffer("ones_row", .sbuf, [1, partitions], .fp32)
        let broadcast = b.buffer("expert_weight_psum", .psum, [partitions, k], .fp32)
        let weights = b.buffer("expert_weight_rows", .sbuf, [partitions, k], .fp32, copies: 2)
        // Loaded as one row and copied onto the partitions by an fp32 matmul with a row of ones,
        // which multiplies each by 1 exactly.
        let perToken: [Stmt] = [
            .allocate(weightRow.id),
            .op(
                .dma(
                    dst: Access(weightRow, [.full(1), .full(k)]),
                    src: Access(arguments.weight, [.index(.term(token)), .full(k)]), queue: 3)),
            .allocate(broadcast.id),
            .op(
                .matmul(
                    dst: Access(broadcast, [.full(partitions), .full(k)]),
                    stationary: Access(ones, [.full(1), .full(partitions)]),
                    moving: Access(weightRow, [.full(1), .full(k)]), accumulation: .overwrite)),
            .allocate(weights.id),
            .op(
                .copy(
                    dst: Access(weights, [.full(partitions), .full(k)]),
                    src: Access(broadcast, [.full(partitions), .full(k)]), engine: .vector)),
        ]
        let setup: [Stmt] = [
            .allocate(ones.id),
            .op(.memset(dst: Access(ones, [.full(1), .full(partitions)]), value: 1, engine: .vector)),
        ]
        return (setup, perToken, weights)
    }

    /// One expert's down projection, transposed: `load` brings its rows, the `hidden` columns
    /// only, into `weights`; `project` leaves in `dst` (column `hc` indexed by `column`) the
    /// columns `p * tiles + hc` of that range (`tiles` = its size / `partitions`), summed over the
    /// intermediate tiles in PSUM, with SiLU(gate) * up from `moving`.
    func down(
        _ arguments: ExpertMLPDecodeArguments, _ activation: Activation, weights: BufferDecl, expertIndex: Access,
        hidden: AffineRange, partitions: Int, column hc: LoopVar, into dst: Access, moving: Access
    ) -> (load: [Stmt], project: Stmt) {
        let (it, rows, tiles) = (activation.it, activation.columnRows, hidden.size / partitions)
        let projection: Stmt = .op(
            .matmul(
                dst: dst,
                stationary: Access(
                    weights, [rows, .index(.term(it)), AffineRange(start: .term(hc), size: partitions, stride: tiles)]),
                moving: moving, accumulation: .acrossLoops([it.id])))
        let copy: Stmt = .op(
            .dma(
                dst: Access(weights, [rows, .index(.term(it)), .full(hidden.size)]),
                src: ExpertProjection.downRows(
                    arguments.down, expertIndex: expertIndex, columnTile: it, columns: shape.columns, hidden: hidden),
                queue: 2))
        return (
            [.allocate(weights.id), .loop(Loop(it, trips: activation.columnTiles, body: [copy]))],
            .loop(Loop(hc, trips: tiles, body: [.loop(Loop(it, trips: activation.columnTiles, body: [projection]))]))
        )
    }

    /// What runs once before the tokens: the expert indices loaded, the routing weights' `setup`,
    /// the buffers `allocating` allocated and the sum `zeroing` (if any: one a reduction writes
    /// whole needs none) set to zero.
    func prologue(
        _ arguments: ExpertMLPDecodeArguments, indices: BufferDecl, routing setup: [Stmt], allocating: [BufferDecl],
        zeroing sum: Access?
    ) -> [Stmt] {
        let all = [AffineRange.full(indices.shape[0]), .full(indices.shape[1])]
        let zero = sum.map { [Stmt.op(.memset(dst: $0, value: 0, engine: .vector))] } ?? []
        return [
            .allocate(indices.id), .op(.dma(dst: Access(indices, all), src: Access(arguments.index, all), queue: 0)),
        ] + setup + allocating.map { .allocate($0.id) } + zero
    }

    mutating func build() -> KernelProgram {
        let (tokens, hidden, _, _, k) = shape.dimensions
        let accumulatorType = configuration[Key.accumulatorType].dtype
        let accumulating = accumulatesAcrossCores
        let arguments = ExpertMLPDecodeArguments(
            &b, shape: shape, partialType: partial && !accumulating ? accumulatorType : nil)
        let indexSB = b.buffer("expert_index_sb", .sbuf, [tokens, k], .int32)
        let (t, slot, hc) = (b.variable("t"), b.variable("j"), b.variable("hc"))
        let tokenColumn = AffineRange.index(.term(t))
        let expertIndex = Access(indexSB, [tokenColumn, .index(.term(slot))])
        let activation = activation(arguments, token: t, expertIndex: expertIndex)
        let (partitions, hiddenTiles, columnTiles) = (
            activation.partitions, activation.hiddenTiles, activation.columnTiles
        )
        let routing = routingWeights(arguments, token: t, partitions: partitions)
        let downSB = b.buffer(
            "down_sb", .sbuf, [128, columnTiles, hidden], .bf16, copies: configuration[Key.bufs])
        let downT = b.buffer("down_t_psum", .psum, [partitions, hiddenTiles], .fp32, copies: 2)
        let scaled = b.buffer("scaled_t", .sbuf, [partitions, hiddenTiles], accumulatorType, copies: 2)
        let sum = b.buffer("expert_sum_t", .sbuf, [partitions, hiddenTiles, tokens], accumulatorType)
        let outputType = arguments.y.dtype
        let result =
            outputType == accumulatorType
            ? sum : b.buffer("y_t", .sbuf, [partitions, hiddenTiles, tokens], outputType)
        let allRows = AffineRange.full(tokens)
        // A token's values in the interleaved layout, and the same token's row in HBM.
        func interleaved(_ buffer: BufferDecl) -> Access {
            Access(buffer, [.full(partitions), .full(hiddenTiles), tokenColumn])
        }
        func row(_ buffer: BufferDecl) -> Access { Access(buffer, [tokenColumn, .full(hidden)]) }

        let down = down(
            arguments, activation, weights: downSB, expertIndex: expertIndex, hidden: .full(hidden),
            partitions: partitions, column: hc, into: Access(downT, [.full(partitions), .index(.term(hc))]),
            moving: activation.product)
        let scaledAll = Access(scaled, [.full(partitions), .full(hiddenTiles)])
        let routingWeight = Access(routing.weights, [.full(partitions), .index(.term(slot))])
        let expert: [Stmt] =
            activation.load + down.load + activation.compute + [
                .allocate(downT.id), down.project,
                .allocate(scaled.id),
                .op(
                    .tensorScalar(
                        dst: scaledAll, src: Access(downT, [.full(partitions), .full(hiddenTiles)]),
                        steps: [ScalarStep(.multiply, .perPartition(routingWeight))], engine: .vector)),
                .op(
                    .tensorTensor(dst: interleaved(sum), a: interleaved(sum), b: scaledAll, op: .add, engine: .vector)),
            ]
        // Per token: its row in the interleaved layout, its routing weights on every partition,
        // then its experts.
        let token: [Stmt] =
            [.op(.dma(dst: interleaved(activation.xT), src: row(arguments.x), queue: 0))] + routing.perToken + [
                .loop(Loop(slot, trips: k, kind: .sequential, body: expert))
            ]
        let body =
            prologue(
                arguments, indices: indexSB, routing: routing.setup, allocating: [activation.xT, sum],
                zeroing: Access(sum, [.full(partitions), .full(hiddenTiles), allRows])) + [
                .loop(Loop(t, trips: tokens, body: token))
            ]
        var store: [Stmt] = []
        if result.id != sum.id {
            store = [
                .allocate(result.id), .op(.copy(dst: interleaved(result), src: interleaved(sum), engine: .vector)),
            ]
        }
        guard accumulating else {
            store.append(.op(.dma(dst: row(arguments.y), src: interleaved(result), queue: 0)))
            return b.program(
                name: "expert_mlp_decode_kernel", body: body + [.loop(Loop(t, trips: tokens, body: store))])
        }
        // Core c owns hidden columns [c H/2, (c + 1) H/2): partitions [c P/2, (c + 1) P/2) of the
        // interleaved layout.
        let core = b.coreIndex()
        self.core = core
        func share(_ index: Affine) -> (columns: Access, tile: Access) {
            (
                Access(arguments.y, [tokenColumn, AffineRange(start: index * (hidden / 2), size: hidden / 2)]),
                Access(
                    result,
                    [
                        AffineRange(start: index * (partitions / 2), size: partitions / 2), .full(hiddenTiles),
                        tokenColumn,
                    ])
            )
        }
        let (own, other) = (share(.term(core)), share(.const(1) + -Affine.term(core)))
        store.append(.op(.dma(dst: own.columns, src: own.tile, queue: 0)))
        let accumulate: [Stmt] = [.op(.dmaAdd(dst: other.columns, src: other.tile, queue: 0))]
        return b.program(
            name: "expert_mlp_decode_kernel",
            body: body + [
                .loop(Loop(t, trips: tokens, body: store)), .barrier(arguments.y.id),
                .loop(Loop(t, trips: tokens, body: accumulate)),
            ])
    }
}
