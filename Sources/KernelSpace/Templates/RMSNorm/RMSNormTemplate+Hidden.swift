/// The program of an ``RMSNormTemplate`` configuration with `layout=hidden`: one token at a time,
/// its row spread over the partitions (`h = p * H/128 + f`), which a DMA of the row into a
/// `[128, H/128]` tile does by itself (the elements stream in order). Each partition sums its
/// squares; a matmul of those partial sums with a `[128, 128]` matrix of ones adds them and leaves
/// the total on every partition, where the scale is formed and applied.
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
        let body = steps.statements(
            configuration: configuration, hidden: hidden, epsilon: epsilon, tile: tile, column: tile,
            row: { Access($0, [.index(.term(t)), .full(hidden)]) }, weightTile: tile(weight), combine: combine,
            total: tile(total))
        let prologue: [Stmt] = [
            .allocate(weight.id),
            .op(.dma(dst: tile(weight), src: Access(steps.weight, [.index(.const(0)), .full(hidden)]), queue: 1)),
            .allocate(ones.id),
            .op(.memset(dst: tile(ones), value: 1, engine: .gpsimd)),
        ]
        let loop = Stmt.loop(Loop(t, trips: tokens, body: body))
        return b.program(name: "rmsnorm_kernel", body: prologue + [loop])
    }
}
