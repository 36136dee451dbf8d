/// The part of an MoE kernel both expert templates share: for `rows` token rows (one decode token or
/// a prefill block) and one expert chosen at run time, load the expert's weights (DMAs offset by
/// the expert index), project gate and up (accumulating over hidden tiles in PSUM), form
/// `SiLU(gate) * up`, transpose it onto partitions, and run the down projection in hidden chunks,
/// handing each chunk's PSUM result to the caller.
struct ExpertProjection {
    let rows: Int
    let hidden: Int
    let columns: Int
    let downTile: Int
    let hiddenPartitions: Int
    let hiddenTiles: Int
    let columnTiles: Int
    /// How the hidden size lies on partitions: tiles of 128 consecutive values, or interleaved
    /// (`h = p * tiles + f`), where one DMA loads an expert's gate/up columns with a contiguous run
    /// of `tiles` rows on each partition.
    let hiddenOrder: HiddenOrder
    private let gateUp: BufferDecl
    private let down: BufferDecl
    private let flip: BufferDecl
    private let gateUpSB: BufferDecl
    private let downSB: BufferDecl
    private let projected: BufferDecl
    private let activated: BufferDecl
    private let product: BufferDecl
    private let productT: BufferDecl
    private let downPSUM: BufferDecl
    /// Loop variables over hidden tiles, intermediate tiles and hidden chunks.
    let hiddenTile: LoopVar
    private let columnTile: LoopVar
    private let chunk: LoopVar

    /// Declares the buffers and loop variables in `b`.
    init(
        _ b: inout ProgramBuilder, rows: Int, shape: ExpertShape, downTile: Int, bufs: Int, gateUp: BufferDecl,
        down: BufferDecl, flip: BufferDecl, hiddenOrder: HiddenOrder = .tiles
    ) {
        self.hiddenOrder = hiddenOrder
        self.rows = rows
        hidden = shape.hidden
        columns = shape.columns
        self.downTile = min(downTile, hidden)
        hiddenPartitions = min(128, hidden)
        hiddenTiles = hidden / hiddenPartitions
        columnTiles = (columns + 127) / 128
        self.gateUp = gateUp
        self.down = down
        self.flip = flip
        gateUpSB = b.buffer("gate_up_sb", .sbuf, [hiddenPartitions, hiddenTiles, 2 * columns], .bf16, copies: bufs)
        downSB = b.buffer("down_sb", .sbuf, [128, columnTiles, hidden], .bf16, copies: bufs)
        projected = b.buffer("gate_up_psum", .psum, [rows, 2 * columns], .fp32, copies: 2)
        activated = b.buffer("silu_gate", .sbuf, [rows, columns], .bf16, copies: 2)
        product = b.buffer("hidden_act", .sbuf, [rows, columns], .bf16, copies: 2)
        productT = b.buffer("hidden_act_t", .sbuf, [128, columnTiles, rows], .bf16, copies: 2)
        downPSUM = b.buffer("down_psum", .psum, [rows, self.downTile], .fp32, copies: 2)
        hiddenTile = b.variable("ht")
        columnTile = b.variable("it")
        chunk = b.variable("hc")
    }

    /// Statements for one expert. `stationary` is the rows' x^T for the hidden tile `hiddenTile`;
    /// `consume` receives each hidden chunk's down-projection result (`[rows, downTile]` in PSUM)
    /// and the chunk's columns.
    func statements(
        expertIndex: Access, stationary: Access, fused: Bool,
        consume: (Access, AffineRange) -> [Stmt]
    ) -> [Stmt] {
        let allRows = AffineRange.full(rows)
        let ht = hiddenTile
        let both = Access(projected, [allRows, .full(2 * columns)])
        let load: Stmt
        if hiddenOrder == .interleaved {
            precondition(fused, "interleaved gate/up columns load in one DMA")
            load = .op(
                .dma(
                    dst: Access(gateUpSB, [.full(hiddenPartitions), .full(hiddenTiles), .full(2 * columns)]),
                    src: Access(gateUp, [.index(.const(0)), .full(hidden), .full(2 * columns)])
                        .offset(0, by: expertIndex), queue: 1))
        } else {
            let loads = Self.gateUpLoads(
                gateUp, into: gateUpSB, expertIndex: expertIndex, hiddenTile: ht, partitions: hiddenPartitions,
                columns: columns, fused: fused)
            load = .loop(Loop(ht, trips: hiddenTiles, body: loads))
        }
        var statements: [Stmt] = [
            .allocate(gateUpSB.id), load, .allocate(projected.id),
            .loop(
                Loop(
                    ht, trips: hiddenTiles,
                    body: [
                        .op(
                            .matmul(
                                dst: both, stationary: stationary,
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
                    engine: .vector)),
        ]
        let it = columnTile
        let columnStart = Affine.term(it, 128)
        let columnLimit: Affine? = columns % 128 == 0 ? nil : .const(columns) + (-columnStart)
        let columnRows = AffineRange(start: .const(0), size: 128, limit: columnLimit)
        let pieceFlip = Access(flip, [columnRows, AffineRange(start: .const(0), size: rows)])
        let downSource = Self.downRows(down, expertIndex: expertIndex, columnTile: it, columns: columns)
        statements += [
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
                                dst: Access(downSB, [columnRows, .index(.term(it)), .full(hidden)]), src: downSource,
                                queue: 2)),
                    ])),
        ]
        // The last chunk is partial when H is not a multiple of the down tile: both the weights'
        // columns and the PSUM result are cut to what remains of H.
        let chunkStart = Affine.term(chunk, downTile)
        let chunkLimit: Affine? = hidden % downTile == 0 ? nil : .const(hidden) + (-chunkStart)
        let chunkColumns = AffineRange(start: chunkStart, size: downTile, limit: chunkLimit)
        let partial = Access(downPSUM, [allRows, AffineRange(start: .const(0), size: downTile, limit: chunkLimit)])
        let projections: [Stmt] = [
            .allocate(downPSUM.id),
            .loop(
                Loop(
                    it, trips: columnTiles,
                    body: [
                        .op(
                            .matmul(
                                dst: partial, stationary: Access(productT, [columnRows, .index(.term(it)), allRows]),
                                moving: Access(downSB, [columnRows, .index(.term(it)), chunkColumns]),
                                accumulation: .acrossLoops([it.id])))
                    ])),
        ]
        statements.append(
            .loop(
                Loop(chunk, trips: ceilDiv(hidden, downTile), body: projections + consume(partial, chunkColumns))))
        return statements
    }

    /// The DMAs that load one hidden tile `hiddenTile` of the expert's `gate_up` columns into
    /// `gateUpSB` (`[partitions, hidden tiles, 2I]`): one for both halves, or one each.
    static func gateUpLoads(
        _ gateUp: BufferDecl, into gateUpSB: BufferDecl, expertIndex: Access, hiddenTile: LoopVar, partitions: Int,
        columns: Int, fused: Bool
    ) -> [Stmt] {
        let hiddenRange = AffineRange(start: .term(hiddenTile, partitions), size: partitions)
        func source(_ from: Int, _ width: Int) -> Access {
            Access(gateUp, [.index(.const(0)), hiddenRange, AffineRange(start: .const(from), size: width)])
                .offset(0, by: expertIndex)
        }
        func target(_ from: Int, _ width: Int) -> Access {
            Access(
                gateUpSB, [.full(partitions), .index(.term(hiddenTile)), AffineRange(start: .const(from), size: width)])
        }
        return fused
            ? [.op(.dma(dst: target(0, 2 * columns), src: source(0, 2 * columns), queue: 1))]
            : [
                .op(.dma(dst: target(0, columns), src: source(0, columns), queue: 1)),
                .op(.dma(dst: target(columns, columns), src: source(columns, columns), queue: 3)),
            ]
    }

    /// The expert's `down` rows of intermediate tile `columnTile` (up to 128; the `hidden` columns,
    /// all by default), the start offset by the run-time expert index.
    static func downRows(
        _ down: BufferDecl, expertIndex: Access, columnTile: LoopVar, columns: Int, hidden: AffineRange? = nil
    ) -> Access {
        let start = Affine.term(columnTile, 128)
        let limit: Affine? = columns % 128 == 0 ? nil : .const(columns) + (-start)
        return Access(
            down,
            [.index(.const(0)), AffineRange(start: start, size: 128, limit: limit), hidden ?? .full(down.shape[2])]
        )
        .offset(0, by: expertIndex)
    }

    /// `rows` token rows of `source` (`[rows, hidden]` in SBUF) transposed into `xT`
    /// (`[hiddenPartitions, hiddenTiles, rows]`) in the projection's hidden order, one hidden tile
    /// at a time through TensorE.
    func transposeRows(
        _ source: BufferDecl, rows: Int, into xT: BufferDecl, variable: LoopVar, copyEngine: Engine = .vector
    ) -> [Stmt] {
        Self.transposeRows(
            source, rows: rows, into: xT, variable: variable, flip: flip, partitions: hiddenPartitions,
            tiles: hiddenTiles, order: hiddenOrder, copyEngine: copyEngine)
    }

    /// `rows` token rows of `source` (`[rows, hidden]` in SBUF) transposed into `xT`
    /// (`[partitions, tiles, rows]`), one hidden tile at a time through TensorE and the PSUM
    /// buffer `flip`; interleaved, tile `f` is every `tiles`-th column from `f` (a strided read).
    /// `copyEngine` moves each tile out of PSUM (ScalarE by an identity `activation`).
    static func transposeRows(
        _ source: BufferDecl, rows: Int, into xT: BufferDecl, variable: LoopVar, flip: BufferDecl, partitions: Int,
        tiles: Int, order: HiddenOrder = .tiles, copyEngine: Engine = .vector
    ) -> [Stmt] {
        let allRows = AffineRange.full(rows)
        let flipped = Access(
            flip, [AffineRange(start: .const(0), size: partitions), AffineRange(start: .const(0), size: rows)])
        let tile =
            order == .interleaved
            ? AffineRange(start: .term(variable), size: partitions, stride: tiles)
            : AffineRange(start: .term(variable, partitions), size: partitions)
        return [
            .allocate(xT.id),
            .loop(
                Loop(
                    variable, trips: tiles,
                    body: [
                        .allocate(flip.id), .op(.transpose(dst: flipped, src: Access(source, [allRows, tile]))),
                        .op(
                            copyEngine == .scalar
                                ? .activation(
                                    dst: Access(xT, [.full(partitions), .index(.term(variable)), allRows]),
                                    src: flipped, function: .copy, scale: 1)
                                : .copy(
                                    dst: Access(xT, [.full(partitions), .index(.term(variable)), allRows]),
                                    src: flipped, engine: copyEngine)),
                    ])),
        ]
    }
}
