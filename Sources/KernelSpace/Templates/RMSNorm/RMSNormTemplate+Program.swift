/// The program of an ``RMSNormTemplate`` configuration: token tiles on partitions, the weight
/// broadcast once, the sum of squares on the chosen engine, then scale and weight.
extension RMSNormTemplate {
    /// The tile program of a configuration that passes the restrictions.
    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        let shape = Shape(problem)
        let (tokens, hidden, residual) = (shape.tokens, shape.hidden, shape.residual)
        let tile = configuration[Self.tileT]
        let bufs = configuration[Self.bufs]
        var b = ProgramBuilder()
        let x = b.buffer("x", .hbm, [tokens, hidden], .bf16, role: .input(0))
        let r = residual ? b.buffer("residual", .hbm, [tokens, hidden], .bf16, role: .input(1)) : nil
        let g = b.buffer("weight", .hbm, [1, hidden], .bf16, role: .input(residual ? 2 : 1))
        let y = b.buffer("y", .hbm, [tokens, hidden], .bf16, role: .output)
        let s = residual ? b.buffer("residual_sum", .hbm, [tokens, hidden], .bf16, role: .output) : nil
        let weight = b.buffer("weight_rows", .sbuf, [tile, hidden], .bf16)
        let xTile = b.buffer("x_tile", .sbuf, [tile, hidden], .bf16, copies: bufs)
        let rTile = residual ? b.buffer("residual_tile", .sbuf, [tile, hidden], .bf16, copies: bufs) : nil
        let sTile = residual ? b.buffer("sum_tile", .sbuf, [tile, hidden], .bf16, copies: bufs) : nil
        let squares = b.buffer("squares", .sbuf, [tile, hidden], .fp32, copies: bufs)
        let total = b.buffer("sum_squares", .sbuf, [tile, 1], .fp32, copies: bufs)
        let scale = b.buffer("inverse_rms", .sbuf, [tile, 1], .fp32, copies: bufs)
        let normal = b.buffer("normalised", .sbuf, [tile, hidden], .bf16, copies: bufs)
        let yTile = b.buffer("y_tile", .sbuf, [tile, hidden], .bf16, copies: bufs)
        let t = b.variable("t")
        let rowStart = Affine.term(t, tile)
        let limit: Affine? = tokens % tile == 0 ? nil : .const(tokens) + (-rowStart)
        let rows = AffineRange(start: .const(0), size: tile, limit: limit)
        let global = AffineRange(start: rowStart, size: tile, limit: limit)
        let columns = AffineRange.full(hidden)
        func onChip(_ buffer: BufferDecl) -> Access { Access(buffer, [rows, columns]) }
        func column(_ buffer: BufferDecl) -> Access { Access(buffer, [rows, .full(1)]) }
        let loadWeight = Access(weight, [.full(tile), columns])
        var body: [Stmt] = [
            .allocate(xTile.id), .op(.dma(dst: onChip(xTile), src: Access(x, [global, columns]), queue: 0)),
        ]
        var source = onChip(xTile)
        if let r, let rTile, let sTile, let s {
            body += [
                .allocate(rTile.id), .op(.dma(dst: onChip(rTile), src: Access(r, [global, columns]), queue: 1)),
                .allocate(sTile.id),
                .op(
                    .tensorTensor(
                        dst: onChip(sTile), a: onChip(xTile), b: onChip(rTile), op: .add,
                        engine: configuration[Self.addEngine])),
                .op(.dma(dst: Access(s, [global, columns]), src: onChip(sTile), queue: 2)),
            ]
            source = onChip(sTile)
        }
        body += [.allocate(squares.id), .allocate(total.id)]
        if configuration[Self.square] == .scalar {
            body.append(.op(.activation(dst: onChip(squares), src: source, function: .square, reduce: column(total))))
        } else {
            body += [
                .op(.tensorTensor(dst: onChip(squares), a: source, b: source, op: .multiply, engine: .vector)),
                .op(.tensorReduce(dst: column(total), src: onChip(squares), op: .add)),
            ]
        }
        body += [
            .allocate(scale.id),
            .op(
                .tensorScalar(
                    dst: column(scale), src: column(total),
                    steps: [
                        ScalarStep(.divide, .immediate(Float(hidden))), ScalarStep(.add, .immediate(epsilon)),
                    ],
                    engine: .vector)),
            .op(
                .tensorScalar(
                    dst: column(scale), src: column(scale), steps: [ScalarStep(.power, .immediate(-0.5))],
                    engine: .vector)),
            .allocate(normal.id),
            .op(
                .tensorScalar(
                    dst: onChip(normal), src: source, steps: [ScalarStep(.multiply, .perPartition(column(scale)))],
                    engine: configuration[Self.scaleEngine])),
            .allocate(yTile.id),
            .op(
                .tensorTensor(
                    dst: onChip(yTile), a: onChip(normal), b: Access(weight, [rows, columns]), op: .multiply,
                    engine: configuration[Self.weightEngine])),
            .op(.dma(dst: Access(y, [global, columns]), src: onChip(yTile), queue: 2)),
        ]
        let prologue: [Stmt] = [
            .allocate(weight.id),
            .op(.dma(dst: loadWeight, src: Access(g, [.broadcast(.const(0), count: tile), columns]), queue: 1)),
        ]
        let loop = Stmt.loop(Loop(t, trips: (tokens + tile - 1) / tile, body: body))
        return b.program(name: "rmsnorm_kernel", body: prologue + [loop])
    }
}
