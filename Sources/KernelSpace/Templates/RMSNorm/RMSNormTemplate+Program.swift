/// The program of an ``RMSNormTemplate`` configuration with `layout=tokens`: token tiles on
/// partitions, the weight broadcast once, the sum of squares on the chosen engine, then scale and
/// weight.
extension RMSNormTemplate {
    /// The tile program of a configuration that passes the restrictions.
    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        guard configuration[Self.split] == .tokens else {
            return coreProgram(for: problem, configuration: configuration)
        }
        // The rows in and out are sliced; the weight is every core's.
        return CoreSharing.splittingRows(problem, tokens: Self.tokens, shared: ["weight"]) { half in
            coreProgram(for: half, configuration: configuration)
        }
    }

    /// One core's program.
    private func coreProgram(for problem: Problem, configuration: Configuration) -> KernelProgram {
        if configuration[Self.layout] == .hidden { return hiddenProgram(for: problem, configuration: configuration) }
        let shape = Shape(problem)
        let (tokens, hidden) = (shape.tokens, shape.hidden)
        let tile = configuration[Self.tileT]
        var b = ProgramBuilder()
        let steps = RMSNormSteps(
            &b, tokens: tokens, hidden: hidden, residual: shape.residual, partitions: tile, free: hidden,
            bufs: configuration[Self.bufs])
        let weight = b.buffer("weight_rows", .sbuf, [tile, hidden], .bf16)
        let t = b.variable("t")
        let rowStart = Affine.term(t, tile)
        let limit: Affine? = tokens % tile == 0 ? nil : .const(tokens) + (-rowStart)
        let rows = AffineRange(start: .const(0), size: tile, limit: limit)
        let columns = AffineRange.full(hidden)
        let body = steps.statements(
            configuration: configuration, hidden: hidden, epsilon: epsilon,
            tile: { Access($0, [rows, columns]) }, column: { Access($0, [rows, .full(1)]) },
            row: { Access($0, [AffineRange(start: rowStart, size: tile, limit: limit), columns]) },
            weightTile: Access(weight, [rows, columns]), combine: [],
            total: Access(steps.partial, [rows, .full(1)]))
        let prologue: [Stmt] = [
            .allocate(weight.id),
            .op(
                .dma(
                    dst: Access(weight, [.full(tile), columns]),
                    src: Access(steps.weight, [.broadcast(.const(0), count: tile), columns]), queue: 1)),
        ]
        let loop = Stmt.loop(Loop(t, trips: (tokens + tile - 1) / tile, body: body))
        return b.program(name: "rmsnorm_kernel", body: prologue + [loop])
    }
}
