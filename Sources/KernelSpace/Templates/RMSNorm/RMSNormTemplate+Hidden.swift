/// The program of an ``RMSNormTemplate`` configuration with `layout=hidden`: one token at a time,
/// its row spread over the partitions (`h = p * H/128 + f`). Each partition sums its squares; a
/// matmul of those partial sums with a `[128, 128]` matrix of ones adds them and leaves the total
/// on every partition, where the scale is formed and applied.
///
/// The token's row, its residual row and the weight load whole, each onto one partition of one
/// tile (the weight once, first): a DMA straight into the `[128, H/128]` layout would move runs of
/// `H/128` elements, which the DMA engines move at a small fraction of their rate. Each of `H/128`
/// TensorE transposes turns every `H/128`-th element of those rows into columns of one PSUM tile,
/// from which copies fill the `[128, H/128]` tiles: the same values in the same places
/// (``KernelIdioms/interleavedRows(_:into:_:)``).
extension RMSNormTemplate {
    func hiddenProgram(for problem: Problem, configuration: Configuration) -> KernelProgram {
        let shape = Shape(problem)
        let (tokens, hidden) = (shape.tokens, shape.hidden)
        let (partitions, free) = (128, hidden / 128)
        var b = ProgramBuilder()
        let steps = RMSNormSteps(
            &b, tokens: tokens, hidden: hidden, residual: shape.residual, partitions: partitions, free: free,
            bufs: configuration[Self.bufs])
        let weight = b.buffer("weight_tile", .sbuf, [partitions, free], .bf16)
        let ones = b.buffer("ones", .sbuf, [partitions, partitions], .fp32)
        let total = b.buffer("total_squares", .psum, [partitions, 1], .fp32, copies: configuration[Self.bufs])
        let t = b.variable("t")
        func tile(_ buffer: BufferDecl) -> Access { Access(buffer, [.full(partitions), .full(buffer.shape[1])]) }
        let combine: [Stmt] = [
            .allocate(total.id),
            .op(
                .matmul(
                    dst: tile(total), stationary: tile(ones), moving: tile(steps.partial), accumulation: .overwrite)),
        ]
        let row = { (buffer: BufferDecl) in Access(buffer, [.index(.term(t)), .full(hidden)]) }
        // Rows: x, the residual (if any), the weight (last, loaded once).
        let sources = [steps.x, steps.residual].compactMap { $0 }
        let rows = b.buffer("rows", .sbuf, [sources.count + 1, hidden], .bf16)
        let weightRow = Access(steps.weight, [.index(.const(0)), .full(hidden)])
        let prologue: [Stmt] = [
            .allocate(weight.id), .allocate(rows.id),
            .op(.dma(dst: Access(rows, [.index(.const(sources.count)), .full(hidden)]), src: weightRow, queue: 1)),
            .allocate(ones.id), .op(.memset(dst: tile(ones), value: 1, engine: .gpsimd)),
        ]
        var arrival: [Stmt] = sources.enumerated().map { index, source in
            .op(.dma(dst: Access(rows, [.index(.const(index)), .full(hidden)]), src: row(source), queue: index))
        }
        let (transposes, lane) = KernelIdioms.interleavedRows(rows, into: "rows_t_psum", &b)
        arrival += transposes
        // x on VectorE, the residual on ScalarE (both read PSUM), the weight last.
        for (index, tileBuffer) in [steps.xTile, steps.rTile].compactMap({ $0 }).enumerated() {
            arrival += [
                .allocate(tileBuffer.id),
                .op(.copy(dst: tile(tileBuffer), src: lane(index), engine: index == 0 ? .vector : .scalar)),
            ]
        }
        arrival.append(.op(.copy(dst: tile(weight), src: lane(sources.count), engine: .vector)))
        let body = steps.statements(
            configuration: configuration, hidden: hidden, epsilon: epsilon, tile: tile, column: tile, row: row,
            weightTile: tile(weight), combine: combine, total: tile(total), arrival: arrival)
        let loop = Stmt.loop(Loop(t, trips: tokens, body: body))
        return b.program(name: "rmsnorm_kernel", body: prologue + [loop])
    }
}
