/// The buffers and per-tile statements both layouts of an ``RMSNormTemplate`` program share: load
/// the tile (and the residual, added and stored), the sum of squares, then the scale, the weight
/// and the store. A layout supplies the tile shape, how a buffer is accessed on chip and in HBM,
/// and what turns the per-partition sums into each row's total.
struct RMSNormSteps {
    let x: BufferDecl
    let residual: BufferDecl?
    let weight: BufferDecl
    let y: BufferDecl
    let sum: BufferDecl?
    let xTile: BufferDecl
    let rTile: BufferDecl?
    let sTile: BufferDecl?
    let squares: BufferDecl
    let partial: BufferDecl
    let scale: BufferDecl
    let normal: BufferDecl
    let yTile: BufferDecl

    /// Declares the arguments and the tiles (`[partitions, free]`, `bufs` copies) in `b`.
    init(_ b: inout ProgramBuilder, tokens: Int, hidden: Int, residual: Bool, partitions: Int, free: Int, bufs: Int) {
        x = b.buffer("x", .hbm, [tokens, hidden], .bf16, role: .input(0))
        self.residual = residual ? b.buffer("residual", .hbm, [tokens, hidden], .bf16, role: .input(1)) : nil
        weight = b.buffer("weight", .hbm, [1, hidden], .bf16, role: .input(residual ? 2 : 1))
        y = b.buffer("y", .hbm, [tokens, hidden], .bf16, role: .output)
        sum = residual ? b.buffer("residual_sum", .hbm, [tokens, hidden], .bf16, role: .output) : nil
        func tile(_ name: String, _ dtype: DType = .bf16) -> BufferDecl {
            b.buffer(name, .sbuf, [partitions, free], dtype, copies: bufs)
        }
        xTile = tile("x_tile")
        rTile = residual ? tile("residual_tile") : nil
        sTile = residual ? tile("sum_tile") : nil
        squares = tile("squares", .fp32)
        partial = b.buffer("sum_squares", .sbuf, [partitions, 1], .fp32, copies: bufs)
        scale = b.buffer("inverse_rms", .sbuf, [partitions, 1], .fp32, copies: bufs)
        normal = tile("normalised")
        yTile = tile("y_tile")
    }

    /// One tile's statements. `tile`, `column` and `row` give a buffer's on-chip tile, its
    /// `[P, 1]` column and the tile's rows in HBM; `weightTile` is the weight as the tile reads it;
    /// `combine` follows the sum of squares (into `sum_squares`) and `total` is where each row's
    /// total then is. `arrival`, when given, allocates and fills the x and residual tiles in place
    /// of their DMAs.
    func statements(
        configuration: Configuration, hidden: Int, epsilon: Float, tile: (BufferDecl) -> Access,
        column: (BufferDecl) -> Access, row: (BufferDecl) -> Access, weightTile: Access, combine: [Stmt],
        total: Access, arrival: [Stmt]? = nil
    ) -> [Stmt] {
        typealias Key = RMSNormTemplate
        var body = arrival ?? [.allocate(xTile.id), .op(.dma(dst: tile(xTile), src: row(x), queue: 0))]
        var source = tile(xTile)
        if let residual, let rTile, let sTile, let sum {
            if arrival == nil {
                body += [.allocate(rTile.id), .op(.dma(dst: tile(rTile), src: row(residual), queue: 1))]
            }
            body += [
                .allocate(sTile.id),
                .op(
                    .tensorTensor(
                        dst: tile(sTile), a: tile(xTile), b: tile(rTile), op: .add,
                        engine: configuration[Key.addEngine])),
                .op(.dma(dst: row(sum), src: tile(sTile), queue: 2)),
            ]
            source = tile(sTile)
        }
        body += [.allocate(squares.id), .allocate(partial.id)]
        if configuration[Key.square] == .scalar {
            body.append(.op(.activation(dst: tile(squares), src: source, function: .square, reduce: column(partial))))
        } else {
            body += [
                .op(.tensorTensor(dst: tile(squares), a: source, b: source, op: .multiply, engine: .vector)),
                .op(.tensorReduce(dst: column(partial), src: tile(squares), op: .add)),
            ]
        }
        return body + combine + [.allocate(scale.id)]
            + KernelIdioms.inverseRMS(into: column(scale), sumOfSquares: total, count: hidden, epsilon: epsilon) + [
                .allocate(normal.id),
                .op(
                    .tensorScalar(
                        dst: tile(normal), src: source, steps: [ScalarStep(.multiply, .perPartition(column(scale)))],
                        engine: configuration[Key.scaleEngine])),
                .allocate(yTile.id),
                .op(
                    .tensorTensor(
                        dst: tile(yTile), a: tile(normal), b: weightTile, op: .multiply,
                        engine: configuration[Key.weightEngine])),
                .op(.dma(dst: row(y), src: tile(yTile), queue: 2)),
            ]
    }
}
