extension QKNormRopeTemplate {
    /// The tile program of a configuration that passes the restrictions.
    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        var builder = QKNormRopeBuilder(shape: Shape(problem), configuration: configuration, epsilon: epsilon)
        return builder.build()
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
        let (tokens, d) = (shape.tokens, shape.headDim)
        let (qHeads, kvHeads) = (shape.queryHeads, shape.keyValueHeads)
        let tile = configuration[QKNormRopeTemplate.tileT]
        let bufs = configuration[QKNormRopeTemplate.bufs]
        let q = b.buffer("q", .hbm, [tokens, qHeads * d], .bf16, role: .input(0))
        let k = b.buffer("k", .hbm, [tokens, kvHeads * d], .bf16, role: .input(1))
        let qWeight = b.buffer("q_norm_weight", .hbm, [1, d], .bf16, role: .input(2))
        let kWeight = b.buffer("k_norm_weight", .hbm, [1, d], .bf16, role: .input(3))
        let cos = b.buffer("cos", .hbm, [tokens, d], .bf16, role: .input(4))
        let sin = b.buffer("sin", .hbm, [tokens, d], .bf16, role: .input(5))
        let qOut = b.buffer("q_out", .hbm, [tokens, qHeads * d], .bf16, role: .output)
        let kOut = b.buffer("k_out", .hbm, [tokens, kvHeads * d], .bf16, role: .output)
        let qRows = b.buffer("q_norm_rows", .sbuf, [tile, d], .bf16)
        let kRows = b.buffer("k_norm_rows", .sbuf, [tile, d], .bf16)
        let cosTile = b.buffer("cos_tile", .sbuf, [tile, d], .bf16, copies: bufs)
        let sinTile = b.buffer("sin_tile", .sbuf, [tile, d], .bf16, copies: bufs)
        let t = b.variable("t")
        let rowStart = Affine.term(t, tile)
        let limit: Affine? = tokens % tile == 0 ? nil : .const(tokens) + (-rowStart)
        let rows = AffineRange(start: .const(0), size: tile, limit: limit)
        let globalRows = AffineRange(start: rowStart, size: tile, limit: limit)
        var body: [Stmt] = [
            .allocate(cosTile.id),
            .op(.dma(dst: Access(cosTile, [rows, .full(d)]), src: Access(cos, [globalRows, .full(d)]), queue: 1)),
            .allocate(sinTile.id),
            .op(.dma(dst: Access(sinTile, [rows, .full(d)]), src: Access(sin, [globalRows, .full(d)]), queue: 1)),
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
                    dst: Access(qRows, [.full(tile), .full(d)]),
                    src: Access(qWeight, [.broadcast(.const(0), count: tile), .full(d)]), queue: 1)),
            .allocate(kRows.id),
            .op(
                .dma(
                    dst: Access(kRows, [.full(tile), .full(d)]),
                    src: Access(kWeight, [.broadcast(.const(0), count: tile), .full(d)]), queue: 1)),
        ]
        return b.program(
            name: "qk_norm_rope_kernel",
            body: prologue + [.loop(Loop(t, trips: (tokens + tile - 1) / tile, body: body))])
    }

    /// Loads the tile of one tensor's heads, normalises and rotates each head, and stores it.
    private mutating func heads(
        _ name: String, input: BufferDecl, output: BufferDecl, weights: BufferDecl, count: Int, rows: AffineRange,
        globalRows: AffineRange, cos: BufferDecl, sin: BufferDecl
    ) -> [Stmt] {
        let d = shape.headDim
        let half = d / 2
        let tile = configuration[QKNormRopeTemplate.tileT]
        let bufs = configuration[QKNormRopeTemplate.bufs]
        let x = b.buffer("\(name)_tile", .sbuf, [tile, count, d], .bf16, copies: bufs)
        let out = b.buffer("\(name)_rotated", .sbuf, [tile, count, d], .bf16, copies: bufs)
        let squares = b.buffer("\(name)_squares", .sbuf, [tile, d], .fp32, copies: bufs)
        let total = b.buffer("\(name)_sum_squares", .sbuf, [tile, 1], .fp32, copies: bufs)
        let normal = b.buffer("\(name)_normalised", .sbuf, [tile, d], .bf16, copies: bufs)
        let weighted = b.buffer("\(name)_weighted", .sbuf, [tile, d], .bf16, copies: bufs)
        let direct = b.buffer("\(name)_direct", .sbuf, [tile, d], .bf16, copies: bufs)
        let turned = b.buffer("\(name)_turned", .sbuf, [tile, d], .bf16, copies: bufs)
        let head = b.variable("\(name)h")
        let everything = AffineRange.full(count * d)
        func slice(_ buffer: BufferDecl, _ from: Int, _ size: Int) -> Access {
            Access(buffer, [rows, AffineRange(start: .const(from), size: size)])
        }
        let headSlice = Access(x, [rows, .index(.term(head)), .full(d)])
        let column = Access(total, [rows, .full(1)])
        let normEngine = configuration[QKNormRopeTemplate.normEngine]
        let ropeEngine = configuration[QKNormRopeTemplate.ropeEngine]
        var perHead: [Stmt] = [.allocate(squares.id), .allocate(total.id)]
        if configuration[QKNormRopeTemplate.square] == .scalar {
            perHead.append(
                .op(
                    .activation(
                        dst: Access(squares, [rows, .full(d)]), src: headSlice, function: .square, reduce: column)))
        } else {
            perHead += [
                .op(
                    .tensorTensor(
                        dst: Access(squares, [rows, .full(d)]), a: headSlice, b: headSlice, op: .multiply,
                        engine: .vector)),
                .op(.tensorReduce(dst: column, src: Access(squares, [rows, .full(d)]), op: .add)),
            ]
        }
        perHead += [
            .op(
                .tensorScalar(
                    dst: column, src: column,
                    steps: [
                        ScalarStep(.divide, .immediate(Float(d))),
                        ScalarStep(.add, .immediate(epsilon)),
                    ],
                    engine: .vector)),
            .op(
                .tensorScalar(dst: column, src: column, steps: [ScalarStep(.power, .immediate(-0.5))], engine: .vector)),
            .allocate(normal.id),
            .op(
                .tensorScalar(
                    dst: Access(normal, [rows, .full(d)]), src: headSlice,
                    steps: [ScalarStep(.multiply, .perPartition(column))], engine: normEngine)),
            .allocate(weighted.id),
            .op(
                .tensorTensor(
                    dst: Access(weighted, [rows, .full(d)]), a: Access(normal, [rows, .full(d)]),
                    b: Access(weights, [rows, .full(d)]), op: .multiply, engine: normEngine)),
            .allocate(direct.id),
            .op(
                .tensorTensor(
                    dst: Access(direct, [rows, .full(d)]), a: Access(weighted, [rows, .full(d)]),
                    b: Access(cos, [rows, .full(d)]), op: .multiply, engine: ropeEngine)),
            .allocate(turned.id),
            // rotate_half(n) * sin: the first half takes the second half's values (negated below).
            .op(
                .tensorTensor(
                    dst: slice(turned, 0, half), a: slice(weighted, half, half), b: slice(sin, 0, half), op: .multiply,
                    engine: ropeEngine)),
            .op(
                .tensorTensor(
                    dst: slice(turned, half, half), a: slice(weighted, 0, half), b: slice(sin, half, half),
                    op: .multiply, engine: ropeEngine)),
            .op(
                .tensorTensor(
                    dst: Access(out, [rows, .index(.term(head)), AffineRange(start: .const(0), size: half)]),
                    a: slice(direct, 0, half),
                    b: slice(turned, 0, half), op: .subtract, engine: ropeEngine)),
            .op(
                .tensorTensor(
                    dst: Access(out, [rows, .index(.term(head)), AffineRange(start: .const(half), size: half)]),
                    a: slice(direct, half, half),
                    b: slice(turned, half, half), op: .add, engine: ropeEngine)),
        ]
        let flat = { (buffer: BufferDecl) in Access(buffer, [rows, .full(count), .full(d)]) }
        return [
            .allocate(x.id),
            .op(.dma(dst: flat(x), src: Access(input, [globalRows, everything]), queue: 0)),
            .allocate(out.id),
            .loop(Loop(head, trips: count, body: perHead)),
            .op(.dma(dst: Access(output, [globalRows, everything]), src: flat(out), queue: 2)),
        ]
    }
}
