extension QKNormRopeTemplate {
    /// The tile program of a configuration that passes the restrictions.
    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        guard configuration[Self.split] == .tokens else {
            var builder = QKNormRopeBuilder(shape: Shape(problem), configuration: configuration, epsilon: epsilon)
            return builder.build()
        }
        // Each core takes half the rows of q, k, their tables and outputs; the norm weights are shared.
        return CoreSharing.splittingRows(
            problem, tokens: Self.tokens, shared: ["q_norm_weight", "k_norm_weight"]
        ) { half in
            var builder = QKNormRopeBuilder(shape: Shape(half), configuration: configuration, epsilon: epsilon)
            return builder.build()
        }
    }
}

/// Builds the program of one ``QKNormRopeTemplate`` configuration (it declares buffers as it goes).
private struct QKNormRopeBuilder {
    let shape: QKNormRopeTemplate.Shape
    let configuration: Configuration
    let epsilon: Float
    private var b = ProgramBuilder()

    init(shape: QKNormRopeTemplate.Shape, configuration: Configuration, epsilon: Float) {
        self.shape = shape
        self.configuration = configuration
        self.epsilon = epsilon
    }

    mutating func build() -> KernelProgram {
        if configuration[QKNormRopeTemplate.layout] == .heads { return buildHeads() }
        let (tokens, d) = (shape.tokens, shape.headDim)
        let (qHeads, kvHeads) = (shape.queryHeads, shape.keyValueHeads)
        let tile = configuration[QKNormRopeTemplate.tileT]
        let bufs = configuration[QKNormRopeTemplate.bufs]
        let (q, k, qWeight, kWeight, cos, sin, qOut, kOut) = declareArguments()
        // Tiles every head reads: `[tile, 1, d]`.
        let qRows = b.buffer("q_norm_rows", .sbuf, [tile, 1, d], .bf16)
        let kRows = b.buffer("k_norm_rows", .sbuf, [tile, 1, d], .bf16)
        let cosTile = b.buffer("cos_tile", .sbuf, [tile, 1, d], .bf16, copies: bufs)
        let sinTile = b.buffer("sin_tile", .sbuf, [tile, 1, d], .bf16, copies: bufs)
        let t = b.variable("t")
        let rowStart = Affine.term(t, tile)
        let limit: Affine? = tokens % tile == 0 ? nil : .const(tokens) + (-rowStart)
        let rows = AffineRange(start: .const(0), size: tile, limit: limit)
        let globalRows = AffineRange(start: rowStart, size: tile, limit: limit)
        var body: [Stmt] = [
            .allocate(cosTile.id),
            .op(
                .dma(
                    dst: Access(cosTile, [rows, .full(1), .full(d)]), src: Access(cos, [globalRows, .full(d)]), queue: 1
                )),
            .allocate(sinTile.id),
            .op(
                .dma(
                    dst: Access(sinTile, [rows, .full(1), .full(d)]), src: Access(sin, [globalRows, .full(d)]), queue: 1
                )),
        ]
        body += heads(
            "q", input: q, output: qOut, weights: qRows, count: qHeads, rows: rows, globalRows: globalRows,
            cos: cosTile, sin: sinTile)
        body += heads(
            "k", input: k, output: kOut, weights: kRows, count: kvHeads, rows: rows, globalRows: globalRows,
            cos: cosTile, sin: sinTile)
        let prologue: [Stmt] = [
            .allocate(qRows.id),
            .op(
                .dma(
                    dst: Access(qRows, [.full(tile), .full(1), .full(d)]),
                    src: Access(qWeight, [.broadcast(.const(0), count: tile), .full(d)]), queue: 1)),
            .allocate(kRows.id),
            .op(
                .dma(
                    dst: Access(kRows, [.full(tile), .full(1), .full(d)]),
                    src: Access(kWeight, [.broadcast(.const(0), count: tile), .full(d)]), queue: 1)),
        ]
        return b.program(
            name: "qk_norm_rope_kernel",
            body: prologue + [.loop(Loop(t, trips: (tokens + tile - 1) / tile, body: body))])
    }

    /// Loads the tile of one tensor's heads, normalises and rotates them, and stores it: the sums
    /// of squares head by head, every other step once over all the tile's heads (the norm's
    /// reciprocal, the weights, `cos` and `sin` broadcast across heads by a step-0 access).
    private mutating func heads(
        _ name: String, input: BufferDecl, output: BufferDecl, weights: BufferDecl, count: Int, rows: AffineRange,
        globalRows: AffineRange, cos: BufferDecl, sin: BufferDecl
    ) -> [Stmt] {
        let d = shape.headDim
        let half = d / 2
        let tile = configuration[QKNormRopeTemplate.tileT]
        let bufs = configuration[QKNormRopeTemplate.bufs]
        func heads(_ suffix: String, _ dtype: DType = .bf16) -> BufferDecl {
            b.buffer("\(name)_\(suffix)", .sbuf, [tile, count, d], dtype, copies: bufs)
        }
        let x = heads("tile")
        let out = heads("rotated")
        let squares = b.buffer("\(name)_squares", .sbuf, [tile, d], .fp32, copies: bufs)
        let scale = b.buffer("\(name)_rstd", .sbuf, [tile, count, 1], .fp32, copies: bufs)
        let (normal, weighted, direct, turned) = (
            heads("normalised"), heads("weighted"), heads("direct"), heads("turned")
        )
        let head = b.variable("\(name)h")
        let normEngine = configuration[QKNormRopeTemplate.normEngine]
        let ropeEngine = configuration[QKNormRopeTemplate.ropeEngine]
        let allHeads = AffineRange.full(count)
        func all(_ buffer: BufferDecl, _ from: Int = 0, _ size: Int? = nil) -> Access {
            Access(buffer, [rows, allHeads, AffineRange(start: .const(from), size: size ?? d)])
        }
        /// A `[tile, 1, width]` tile read by every head.
        func shared(_ buffer: BufferDecl, _ from: Int = 0, _ size: Int? = nil) -> Access {
            Access(
                buffer,
                [
                    rows, AffineRange(start: .const(0), size: count, stride: 0),
                    AffineRange(start: .const(from), size: size ?? d),
                ])
        }
        func multiply(_ dst: Access, _ a: Access, _ b: Access, _ engine: Engine, _ op: ALUOp = .multiply) -> Stmt {
            .op(.tensorTensor(dst: dst, a: a, b: b, op: op, engine: engine))
        }
        let headRows = Access(x, [rows, .index(.term(head)), .full(d)])
        let headSum = Access(scale, [rows, .index(.term(head)), .full(1)])
        let square: [Stmt] =
            configuration[QKNormRopeTemplate.square] == .scalar
            ? [
                .allocate(squares.id),
                .op(
                    .activation(
                        dst: Access(squares, [rows, .full(d)]), src: headRows, function: .square, reduce: headSum)),
            ]
            : [
                .allocate(squares.id),
                .op(
                    .tensorTensor(
                        dst: Access(squares, [rows, .full(d)]), a: headRows, b: headRows, op: .multiply, engine: .vector
                    )),
                .op(.tensorReduce(dst: headSum, src: Access(squares, [rows, .full(d)]), op: .add)),
            ]
        let sums = Access(scale, [rows, allHeads, .full(1)])
        let reciprocal = Access(scale, [rows, allHeads, AffineRange(start: .const(0), size: d, stride: 0)])
        return [
            .allocate(x.id),
            .op(.dma(dst: all(x), src: Access(input, [globalRows, .full(count * d)]), queue: 0)),
            .allocate(scale.id),
            .loop(Loop(head, trips: count, body: square)),
        ] + KernelIdioms.inverseRMS(into: sums, sumOfSquares: sums, count: d, epsilon: epsilon) + [
            .allocate(normal.id), multiply(all(normal), all(x), reciprocal, normEngine),
            .allocate(weighted.id), multiply(all(weighted), all(normal), shared(weights), normEngine),
            .allocate(direct.id), multiply(all(direct), all(weighted), shared(cos), ropeEngine),
            // rotate_half(n) * sin: the first half takes the second half's values (negated below).
            .allocate(turned.id),
            multiply(all(turned, 0, half), all(weighted, half, half), shared(sin, 0, half), ropeEngine),
            multiply(all(turned, half, half), all(weighted, 0, half), shared(sin, half, half), ropeEngine),
            .allocate(out.id),
            multiply(all(out, 0, half), all(direct, 0, half), all(turned, 0, half), ropeEngine, .subtract),
            multiply(all(out, half, half), all(direct, half, half), all(turned, half, half), ropeEngine, .add),
            .op(.dma(dst: Access(output, [globalRows, .full(count * d)]), src: all(out), queue: 2)),
        ]
    }

    /// The kernel's arguments (`q`, `k`, the two norm weights, `cos`, `sin`) and outputs, in order.
    private mutating func declareArguments() -> (
        BufferDecl, BufferDecl, BufferDecl, BufferDecl, BufferDecl, BufferDecl, BufferDecl, BufferDecl
    ) {
        let (tokens, d) = (shape.tokens, shape.headDim)
        let (qHeads, kvHeads) = (shape.queryHeads, shape.keyValueHeads)
        return (
            b.buffer("q", .hbm, [tokens, qHeads * d], .bf16, role: .input(0)),
            b.buffer("k", .hbm, [tokens, kvHeads * d], .bf16, role: .input(1)),
            b.buffer("q_norm_weight", .hbm, [1, d], .bf16, role: .input(2)),
            b.buffer("k_norm_weight", .hbm, [1, d], .bf16, role: .input(3)),
            b.buffer("cos", .hbm, [tokens, d], .bf16, role: .input(4)),
            b.buffer("sin", .hbm, [tokens, d], .bf16, role: .input(5)),
            b.buffer("q_out", .hbm, [tokens, qHeads * d], .bf16, role: .output),
            b.buffer("k_out", .hbm, [tokens, kvHeads * d], .bf16, role: .output)
        )
    }

    /// `layout=heads`: per token, q's heads on partitions `0 ..< q_heads` and k's after them (each
    /// row of the token streams onto its heads' partitions in one DMA), the norm weights and the
    /// token's cos and sin broadcast to the matching partitions, one pass for every head.
    private mutating func buildHeads() -> KernelProgram {
        let (tokens, d) = (shape.tokens, shape.headDim)
        let (qHeads, kvHeads) = (shape.queryHeads, shape.keyValueHeads)
        let heads = qHeads + kvHeads
        let bufs = configuration[QKNormRopeTemplate.bufs]
        let (q, k, qWeight, kWeight, cos, sin, qOut, kOut) = declareArguments()
        func tile(_ name: String, _ dtype: DType = .bf16, copies: Int = bufs) -> BufferDecl {
            b.buffer(name, .sbuf, [heads, d], dtype, copies: copies)
        }
        let weights = tile("norm_weights", copies: 1)
        let x = tile("heads_tile")
        let out = tile("heads_rotated")
        let cosTile = tile("cos_tile")
        let sinTile = tile("sin_tile")
        let scratch = Scratch(
            squares: tile("squares", .fp32), total: b.buffer("sum_squares", .sbuf, [heads, 1], .fp32, copies: bufs),
            normal: tile("normalised"), weighted: tile("weighted"), direct: tile("direct"), turned: tile("turned"))
        let t = b.variable("t")
        let all = AffineRange.full(heads)
        let qRows = AffineRange(start: .const(0), size: qHeads)
        let kRows = AffineRange(start: .const(qHeads), size: kvHeads)
        func row(_ buffer: BufferDecl) -> Access { Access(buffer, [.index(.term(t)), .full(buffer.shape[1])]) }
        func broadcast(_ buffer: BufferDecl, _ at: Affine, to rows: AffineRange) -> Access {
            Access(buffer, [.broadcast(at, count: rows.size), .full(d)])
        }
        var body: [Stmt] = [
            .allocate(x.id),
            .op(.dma(dst: Access(x, [qRows, .full(d)]), src: row(q), queue: 0)),
            .op(.dma(dst: Access(x, [kRows, .full(d)]), src: row(k), queue: 0)),
            .allocate(cosTile.id),
            .op(.dma(dst: Access(cosTile, [all, .full(d)]), src: broadcast(cos, .term(t), to: all), queue: 1)),
            .allocate(sinTile.id),
            .op(.dma(dst: Access(sinTile, [all, .full(d)]), src: broadcast(sin, .term(t), to: all), queue: 1)),
            .allocate(out.id),
        ]
        body += normaliseAndRotate(
            Access(x, [all, .full(d)]), rows: all, scratch: scratch, weights: Access(weights, [all, .full(d)]),
            cos: cosTile, sin: sinTile
        ) { from, size in Access(out, [all, AffineRange(start: .const(from), size: size)]) }
        body += [
            .op(.dma(dst: row(qOut), src: Access(out, [qRows, .full(d)]), queue: 2)),
            .op(.dma(dst: row(kOut), src: Access(out, [kRows, .full(d)]), queue: 2)),
        ]
        let prologue: [Stmt] = [
            .allocate(weights.id),
            .op(
                .dma(dst: Access(weights, [qRows, .full(d)]), src: broadcast(qWeight, .const(0), to: qRows), queue: 1)),
            .op(
                .dma(dst: Access(weights, [kRows, .full(d)]), src: broadcast(kWeight, .const(0), to: kRows), queue: 1)),
        ]
        return b.program(name: "qk_norm_rope_kernel", body: prologue + [.loop(Loop(t, trips: tokens, body: body))])
    }

    /// The scratch tiles of one pass of ``normaliseAndRotate(_:rows:scratch:weights:cos:sin:into:)``.
    struct Scratch {
        let squares: BufferDecl
        let total: BufferDecl
        let normal: BufferDecl
        let weighted: BufferDecl
        let direct: BufferDecl
        let turned: BufferDecl
    }

    /// RMSNorm of each row of `source` (`[rows, d]`) over `d`, times `weights`, then the rotation
    /// with the `cos` and `sin` tiles; `into(from, size)` is where columns `from ..< from + size`
    /// of the result go.
    private func normaliseAndRotate(
        _ source: Access, rows: AffineRange, scratch: Scratch, weights: Access, cos: BufferDecl, sin: BufferDecl,
        into: (Int, Int) -> Access
    ) -> [Stmt] {
        let d = shape.headDim
        let half = d / 2
        func whole(_ buffer: BufferDecl) -> Access { Access(buffer, [rows, .full(d)]) }
        func slice(_ buffer: BufferDecl, _ from: Int, _ size: Int) -> Access {
            Access(buffer, [rows, AffineRange(start: .const(from), size: size)])
        }
        let column = Access(scratch.total, [rows, .full(1)])
        let normEngine = configuration[QKNormRopeTemplate.normEngine]
        let ropeEngine = configuration[QKNormRopeTemplate.ropeEngine]
        var statements: [Stmt] = [.allocate(scratch.squares.id), .allocate(scratch.total.id)]
        if configuration[QKNormRopeTemplate.square] == .scalar {
            statements.append(
                .op(.activation(dst: whole(scratch.squares), src: source, function: .square, reduce: column)))
        } else {
            statements += [
                .op(.tensorTensor(dst: whole(scratch.squares), a: source, b: source, op: .multiply, engine: .vector)),
                .op(.tensorReduce(dst: column, src: whole(scratch.squares), op: .add)),
            ]
        }
        return statements + [] + KernelIdioms.inverseRMS(into: column, sumOfSquares: column, count: d, epsilon: epsilon)
            + [
                .allocate(scratch.normal.id),
                .op(
                    .tensorScalar(
                        dst: whole(scratch.normal), src: source, steps: [ScalarStep(.multiply, .perPartition(column))],
                        engine: normEngine)),
                .allocate(scratch.weighted.id),
                .op(
                    .tensorTensor(
                        dst: whole(scratch.weighted), a: whole(scratch.normal), b: weights, op: .multiply,
                        engine: normEngine)),
                .allocate(scratch.direct.id),
                .op(
                    .tensorTensor(
                        dst: whole(scratch.direct), a: whole(scratch.weighted), b: whole(cos), op: .multiply,
                        engine: ropeEngine)),
                .allocate(scratch.turned.id),
                // rotate_half(n) * sin: the first half takes the second half's values (negated below).
                .op(
                    .tensorTensor(
                        dst: slice(scratch.turned, 0, half), a: slice(scratch.weighted, half, half),
                        b: slice(sin, 0, half), op: .multiply, engine: ropeEngine)),
                .op(
                    .tensorTensor(
                        dst: slice(scratch.turned, half, half), a: slice(scratch.weighted, 0, half),
                        b: slice(sin, half, half), op: .multiply, engine: ropeEngine)),
                .op(
                    .tensorTensor(
                        dst: into(0, half), a: slice(scratch.direct, 0, half), b: slice(scratch.turned, 0, half),
                        op: .subtract, engine: ropeEngine)),
                .op(
                    .tensorTensor(
                        dst: into(half, half), a: slice(scratch.direct, half, half),
                        b: slice(scratch.turned, half, half),
                        op: .add, engine: ropeEngine)),
            ]
    }
}
