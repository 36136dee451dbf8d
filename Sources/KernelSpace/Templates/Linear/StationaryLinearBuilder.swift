/// Builds the program of a ``LinearTemplate`` configuration with `w_operand=stationary`, for one
/// row of X (`M = 1`, a decode token): W is the stationary operand, 128 x 128 at a time, and X's
/// column moves, so each product costs TensorE the 64-cycle minimum instead of `tile_n` cycles.
///
/// K lies on partitions interleaved, `k = p * K/128 + kt` (as a `[128, K/128]` reshape of a row
/// would): each block of W's rows (`K/128` whole rows per partition) moves in one contiguous DMA.
/// A bf16 X row (and a fused norm's weight) loads whole onto one partition, one DMA run instead of
/// 128 runs of `K/128` elements that the DMA engines move at a small fraction of their rate, and
/// `K/128` TensorE transposes of strided pieces lay it out
/// (``KernelIdioms/interleavedRows(_:into:_:)``: exact copies); an fp32 row, whose transposes
/// would run at a quarter rate, is reshaped by its DMA. A block of `E = tile_n * block_n` columns
/// of W produces `E/128` columns of fp32 sums in one PSUM tile, column `j` holding output columns
/// `128 j ..< 128 (j + 1)` of the block down the partitions; one TensorE transpose of the evicted
/// tile turns them into `E/128` rows of 128 outputs, stored whole (a `[128, E/128]` tile would
/// store 2-byte runs). With `norm=1` the row's sum of squares runs per partition, then across
/// partitions by a matmul with a `[128, 128]` matrix of ones (a different summation order from the
/// row-wise norm), and the scale and the norm weight apply to `K/128` elements per partition.
///
/// With `k_order=tiles`, K lies in tiles of 128 instead, `k = kt * 128 + p`: X's row loads as
/// `K/128` rows of 128 (the shape in which a fused kernel's earlier stage may hand it over on chip,
/// ``KernelProgram/handingOverOnChip(engine:)``) and one TensorE transpose puts K on partitions;
/// W loads one K tile (128 whole rows of the block) per DMA.
///
/// The sums over K run in the order `k_order` sets: `w_operand` and `k_order` are numerics
/// parameters.
struct StationaryLinearBuilder {
    let shape: LinearTemplate.Shape
    let configuration: Configuration
    let normEpsilon: Float
    let kernelName: String

    private typealias Key = LinearTemplate

    mutating func build() -> KernelProgram {
        var b = ProgramBuilder()
        let dtype = shape.elementType.dtype
        let (k, n) = (shape.size.k, shape.size.n)
        let kTiles = k / 128
        let extent = configuration[Key.tile.n] * configuration[Key.block.n]
        let (blocks, columnTiles) = (n / extent, extent / 128)
        let resident = configuration[Key.wResident] == .on
        let evict = configuration[Key.evictEngine]
        let tiles = configuration[Key.kOrder] == .tiles
        let transposesRow = !tiles && dtype == .bf16

        let x = b.buffer("x", .hbm, [1, k], dtype, role: .input(0))
        let w = b.buffer("w", .hbm, [k, n], dtype, role: .input(1))
        let y = b.buffer("y", .hbm, [1, n], dtype, role: .output)
        let xT = b.buffer("x_t", .sbuf, [128, kTiles], dtype)
        let wTile =
            resident
            ? b.buffer("w_all", .sbuf, [128, kTiles, n], dtype)
            : b.buffer("w_block", .sbuf, [128, kTiles, extent], dtype, copies: configuration[Key.wBufs])
        let products = b.buffer("y_t_psum", .psum, [128, columnTiles], .fp32, copies: 2)
        let yT = b.buffer("y_t", .sbuf, [128, columnTiles], dtype, copies: 2)
        let rowsPSUM = b.buffer("y_rows_psum", .psum, [columnTiles, 128], .fp32, copies: 2)
        let rows = b.buffer("y_rows", .sbuf, [columnTiles, 128], dtype, copies: 2)
        let (block, column, kt) = (b.variable("nb"), b.variable("j"), b.variable("kt"))

        var prologue: [Stmt] = []
        var normalise: [Stmt] = []
        var moving = xT
        // A transposed X row is row 0 of this tile; a fused norm's weight is row 1.
        let row = transposesRow ? b.buffer("x_row", .sbuf, [shape.normalises ? 2 : 1, k], dtype) : nil
        var gammaT: BufferDecl?
        if shape.normalises {
            let gamma = b.buffer("norm_weight", .hbm, [1, k], .bf16, role: .input(2))
            let weightT = b.buffer("norm_weight_t", .sbuf, [128, kTiles], .bf16)
            let ones = b.buffer("ones", .sbuf, [128, 128], .fp32)
            prologue =
                if let row {
                    [
                        .allocate(row.id),
                        .op(
                            .dma(dst: Access(row, [.index(.const(1)), .full(k)]), src: Access(whole: gamma), queue: 1)),
                    ]
                } else {
                    [
                        .allocate(weightT.id),
                        .op(.dma(dst: Access(whole: weightT), src: Access(whole: gamma), queue: 1)),
                    ]
                }
            prologue += [.allocate(ones.id), .op(.memset(dst: Access(whole: ones), value: 1, engine: .gpsimd))]
            gammaT = weightT
            let (statements, normalised) = Self.normalise(
                &b, xT, gammaT: weightT, ones: ones, hidden: k, epsilon: normEpsilon)
            normalise = statements
            moving = normalised
        }
        if resident {
            prologue += [.allocate(wTile.id)] + Self.loadW(into: wTile, from: w, columns: .full(n), tiles: tiles, &b)
        }

        // Product column `j` of a block: W's columns `128 j ..< 128 (j + 1)` of that block.
        let firstColumn: Affine = (resident ? .term(block, extent) : .const(0)) + .term(column, 128)
        let product: [Stmt] = [
            .op(
                .matmul(
                    dst: Access(products, [.full(128), .index(.term(column))]),
                    stationary: Access(
                        wTile,
                        [.full(128), .index(.term(kt)), AffineRange(start: firstColumn, size: 128)]),
                    moving: Access(moving, [.full(128), .index(.term(kt))]), accumulation: .acrossLoops([kt.id])))
        ]
        let load: [Stmt] =
            resident
            ? []
            : [.allocate(wTile.id)]
                + Self.loadW(
                    into: wTile, from: w, columns: AffineRange(start: .term(block, extent), size: extent),
                    tiles: tiles, &b)
        let blockBody: [Stmt] =
            load + [
                .allocate(products.id),
                .loop(Loop(column, trips: columnTiles, body: [.loop(Loop(kt, trips: kTiles, body: product))])),
                .allocate(yT.id),
                .op(
                    KernelIdioms.eviction(
                        dst: Access(whole: yT), src: Access(whole: products), function: shape.activation.function,
                        engine: evict)),
                .allocate(rowsPSUM.id), .op(.transpose(dst: Access(whole: rowsPSUM), src: Access(whole: yT))),
                .allocate(rows.id), .op(.copy(dst: Access(whole: rows), src: Access(whole: rowsPSUM), engine: .vector)),
                .op(
                    .dma(
                        dst: Access(y, [.full(1), AffineRange(start: .term(block, extent), size: extent)]),
                        src: Access(whole: rows), queue: 2)),
            ]
        let loadX =
            if let row {
                Self.transposeRow(x, through: row, into: xT, weight: gammaT, allocated: shape.normalises, &b)
            } else {
                Self.loadX(into: xT, from: x, tiles: tiles, &b)
            }
        let body: [Stmt] =
            loadX + normalise + [
                .loop(Loop(block, trips: blocks, body: blockBody))
            ]
        var program = b.program(name: kernelName, body: prologue + body)
        // The norm weight, the ones and a resident W depend on nothing the kernel computes.
        program.prefetch = prologue.count
        return program
    }

    /// X's row into `xT` (`[128, K/128]`) in the order `k_order` sets: reshaped by one DMA
    /// (interleaved), or loaded as `K/128` rows of 128 and transposed on TensorE (tiles).
    private static func loadX(into xT: BufferDecl, from x: BufferDecl, tiles: Bool, _ b: inout ProgramBuilder) -> [Stmt]
    {
        guard tiles else {
            return [.allocate(xT.id), .op(.dma(dst: Access(whole: xT), src: Access(whole: x), queue: 0))]
        }
        let kTiles = xT.shape[1]
        let rows = b.buffer("x_rows", .sbuf, [kTiles, 128], xT.dtype)
        let flipped = b.buffer("x_t_psum", .psum, [128, kTiles], .fp32)
        return [
            .allocate(rows.id), .op(.dma(dst: Access(whole: rows), src: Access(whole: x), queue: 0)),
            .allocate(flipped.id), .op(.transpose(dst: Access(whole: flipped), src: Access(whole: rows))),
            .allocate(xT.id), .op(.copy(dst: Access(whole: xT), src: Access(whole: flipped), engine: .vector)),
        ]
    }

    /// X's row into `xT` (`[128, K/128]`, interleaved) by way of `rows`: one DMA moves the row
    /// whole into row 0, and `K/128` TensorE transposes lay out every row of `rows`; copies split
    /// them out. With a norm `weight`, row 1 holds the norm weight (the prologue loads it and
    /// allocated `rows`) and it is laid out into `weight` with X.
    private static func transposeRow(
        _ x: BufferDecl, through rows: BufferDecl, into xT: BufferDecl, weight: BufferDecl?, allocated: Bool,
        _ b: inout ProgramBuilder
    ) -> [Stmt] {
        var statements: [Stmt] = allocated ? [] : [.allocate(rows.id)]
        statements.append(
            .op(.dma(dst: Access(rows, [.index(.const(0)), .full(rows.shape[1])]), src: Access(whole: x), queue: 0)))
        let (transposes, row) = KernelIdioms.interleavedRows(rows, into: "x_t_psum", &b)
        statements += transposes
        for (index, tile) in [xT, weight].compactMap({ $0 }).enumerated() {
            statements += [.allocate(tile.id), .op(.copy(dst: Access(whole: tile), src: row(index), engine: .vector))]
        }
        return statements
    }

    /// `columns` of W into `tile` (`[128, K/128, columns]`): one DMA in the interleaved order,
    /// or one per K tile of 128 rows.
    private static func loadW(
        into tile: BufferDecl, from w: BufferDecl, columns: AffineRange, tiles: Bool, _ b: inout ProgramBuilder
    ) -> [Stmt] {
        let whole = Access(whole: tile)
        guard tiles else { return [.op(.dma(dst: whole, src: Access(w, [.full(w.shape[0]), columns]), queue: 1))] }
        let kt = b.variable("wk")
        let dst = Access(tile, [.full(128), .index(.term(kt)), .full(columns.size)])
        let src = Access(w, [AffineRange(start: .term(kt, 128), size: 128), columns])
        return [.loop(Loop(kt, trips: w.shape[0] / 128, body: [.op(.dma(dst: dst, src: src, queue: 1))]))]
    }

    /// RMSNorm of the row in the interleaved layout, rounded where Hugging Face rounds (`x * scale`,
    /// then `* weight`, each to bf16); returns the statements and the normalised tile.
    private static func normalise(
        _ b: inout ProgramBuilder, _ xT: BufferDecl, gammaT: BufferDecl, ones: BufferDecl, hidden: Int, epsilon: Float
    ) -> ([Stmt], BufferDecl) {
        let kTiles = xT.shape[1]
        let squares = b.buffer("x_squares", .sbuf, [128, kTiles], .fp32)
        let partial = b.buffer("x_partial_squares", .sbuf, [128, 1], .fp32)
        let total = b.buffer("x_total_squares", .psum, [128, 1], .fp32)
        let scale = b.buffer("x_inverse_rms", .sbuf, [128, 1], .fp32)
        let scaled = b.buffer("x_scaled", .sbuf, [128, kTiles], .bf16)
        let normalised = b.buffer("x_normalised", .sbuf, [128, kTiles], .bf16)
        let statements: [Stmt] =
            [
                .allocate(squares.id), .allocate(partial.id),
                .op(
                    .activation(
                        dst: Access(whole: squares), src: Access(whole: xT), function: .square,
                        reduce: Access(whole: partial))),
                .allocate(total.id),
                .op(
                    .matmul(
                        dst: Access(whole: total), stationary: Access(whole: ones), moving: Access(whole: partial),
                        accumulation: .overwrite)),
                .allocate(scale.id),
            ]
            + KernelIdioms.inverseRMS(
                into: Access(whole: scale), sumOfSquares: Access(whole: total), count: hidden, epsilon: epsilon)
            + [
                .allocate(scaled.id),
                .op(
                    .tensorScalar(
                        dst: Access(whole: scaled), src: Access(whole: xT),
                        steps: [ScalarStep(.multiply, .perPartition(Access(whole: scale)))],
                        engine: .vector)),
                .allocate(normalised.id),
                .op(
                    .tensorTensor(
                        dst: Access(whole: normalised), a: Access(whole: scaled), b: Access(whole: gammaT),
                        op: .multiply, engine: .vector)),
            ]
        return (statements, normalised)
    }
}
