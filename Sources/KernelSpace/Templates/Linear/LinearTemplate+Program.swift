extension LinearTemplate {
    /// The tile program of a configuration that passes the restrictions.
    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        guard configuration[Self.split] == .columns else { return coreProgram(for: problem, configuration) }
        // Each core computes Y[:, half of N] from W[:, half of N].
        let half = coreProgram(for: problem.with(Self.size.n, problem[Self.size.n] / 2), configuration)
        return half.spread(over: 2, slicing: [half.inputs[1].id: 1, half.outputs[0].id: 1])
    }

    private func coreProgram(for problem: Problem, _ configuration: Configuration) -> KernelProgram {
        let kernelName = String(id.map { $0 == "-" ? "_" : $0 }) + "_kernel"
        if configuration[Self.wOperand] == .stationary {
            var builder = StationaryLinearBuilder(
                shape: Shape(problem), configuration: configuration, normEpsilon: normEpsilon ?? 0,
                kernelName: kernelName)
            return builder.build()
        }
        var builder = LinearProgramBuilder(
            shape: Shape(problem), configuration: configuration, normEpsilon: normEpsilon ?? 0,
            kernelName: kernelName)
        return builder.build()
    }
}

/// Builds the tile program of one ``LinearTemplate`` configuration.
private struct LinearProgramBuilder {
    let shape: LinearTemplate.Shape
    let configuration: Configuration

    private var builder = ProgramBuilder()
    private let dtype: DType
    private let size: PerDimension<Int>
    private let tile: PerDimension<Int>
    private let block: PerDimension<Int>
    private let order: LoopOrder
    private let evict: Engine
    private let layout: OperandLayout
    private let activation: ActivationFunction
    private let blockLoop: PerDimension<LoopVar>
    private let tileLoop: PerDimension<LoopVar>

    /// Python name of the emitted kernel.
    let kernelName: String
    /// Epsilon of the fused RMSNorm.
    let normEpsilon: Float

    init(shape: LinearTemplate.Shape, configuration: Configuration, normEpsilon: Float, kernelName: String) {
        self.kernelName = kernelName
        self.normEpsilon = normEpsilon
        self.shape = shape
        self.configuration = configuration
        dtype = shape.elementType.dtype
        size = shape.size
        tile = LinearTemplate.tile.map { configuration[$0] }
        block = LinearTemplate.block.map { configuration[$0] }
        order = configuration[LinearTemplate.loopOrder]
        evict = configuration[LinearTemplate.evictEngine]
        layout = configuration[LinearTemplate.xLayout]
        activation = shape.activation.function
        // Declared in the order m, n, k (block loops, then tile loops): the emitted names follow it.
        let (mb, nb, kb) = (builder.variable("mb"), builder.variable("nb"), builder.variable("kb"))
        let (tm, tn, tk) = (builder.variable("tm"), builder.variable("tn"), builder.variable("tk"))
        blockLoop = PerDimension(m: mb, k: kb, n: nb)
        tileLoop = PerDimension(m: tm, k: tk, n: tn)
    }

    /// Elements of one block along a dimension.
    private func extent(_ dimension: LinearDimension) -> Int { tile[dimension] * block[dimension] }

    /// Number of blocks along a dimension.
    private func blocks(_ dimension: LinearDimension) -> Int { ceilDiv(size[dimension], extent(dimension)) }

    /// Whether the last block along a dimension is partial (so accesses need limits).
    private func ragged(_ dimension: LinearDimension) -> Bool { size[dimension] % extent(dimension) != 0 }

    /// The limit for an access starting at global offset `start` along `dimension`.
    private func limit(_ dimension: LinearDimension, _ start: Affine) -> Affine? {
        ragged(dimension) ? .const(size[dimension]) + (-start) : nil
    }

    /// Global offset of the first element of a block.
    private func blockStart(_ dimension: LinearDimension) -> Affine { .term(blockLoop[dimension], extent(dimension)) }

    /// A range of one tile (or block) along a dimension: buffer offset `local`, global offset `global`.
    private func range(_ dimension: LinearDimension, local: Affine, global: Affine, size: Int) -> AffineRange {
        AffineRange(start: local, size: size, limit: limit(dimension, global))
    }

    /// K spans several blocks, so partial products outlive one block's PSUM group.
    private var spansKBlocks: Bool { blocks(.k) > 1 }

    private func inside(_ dimension: LinearDimension, of other: LinearDimension) -> Bool {
        order.depth(of: dimension) > order.depth(of: other)
    }

    mutating func build() -> KernelProgram {
        let (tm, tk, tn) = (tile[.m], tile[.k], tile[.n])
        let bufs = configuration[LinearTemplate.xBufs]
        let x =
            layout == .pretransposed
            ? builder.buffer("xT", .hbm, [size[.k], size[.m]], dtype, role: .input(0))
            : builder.buffer("x", .hbm, [size[.m], size[.k]], dtype, role: .input(0))
        let w = builder.buffer("w", .hbm, [size[.k], size[.n]], dtype, role: .input(1))
        let y = builder.buffer("y", .hbm, [size[.m], size[.n]], dtype, role: .output)
        let xBlock = builder.buffer("x_block", .sbuf, [tk, block[.k], extent(.m)], dtype, copies: bufs)
        let resident = configuration[LinearTemplate.wResident] == .on
        let wBlock =
            resident
            ? builder.buffer("w_all", .sbuf, [tk, blocks(.k) * block[.k], size[.n]], dtype)
            : builder.buffer(
                "w_block", .sbuf, [tk, block[.k], extent(.n)], dtype, copies: configuration[LinearTemplate.wBufs])
        let yTile = builder.buffer("y_tile", .sbuf, [tm, tn], dtype, copies: 2)
        let normalises = shape.normalises
        let gamma = normalises ? builder.buffer("norm_weight", .hbm, [1, size[.k]], .bf16, role: .input(2)) : nil
        let gammaRows = normalises ? builder.buffer("norm_weight_rows", .sbuf, [tm, extent(.k)], .bf16) : nil
        let xLoad = loadX(x: x, xBlock: xBlock, bufs: bufs, gammaRows: gammaRows)
        let wLoad = resident ? [] : loadW(w: w, wBlock: wBlock)
        var accumulator: BufferDecl?
        let inPSUM = LinearTemplate.accumulatesInPSUM(shape: shape, configuration: configuration)
        if inPSUM {
            accumulator = builder.buffer("acc_block", .psum, [tm, block[.m], extent(.n)], .fp32, copies: 2)
        } else if spansKBlocks {
            let mTiles = inside(.m, of: .k) ? blocks(.m) * block[.m] : block[.m]
            let nColumns = inside(.n, of: .k) ? blocks(.n) * extent(.n) : extent(.n)
            let type = configuration[LinearTemplate.accumulatorType].dtype
            accumulator = builder.buffer("acc_sbuf", .sbuf, [tm, mTiles, nColumns], type)
        }
        let psum = inPSUM ? nil : builder.buffer("acc_psum", .psum, [tm, tn], .fp32, copies: 4)
        let evictTemporary =
            !spansKBlocks && activation != .copy && evict != .scalar
            ? builder.buffer("y_fp32", .sbuf, [tm, tn], .fp32, copies: 2) : nil
        let compute = computeNest(
            xBlock: xBlock, wBlock: wBlock, resident: resident, psum: psum, yTile: yTile, y: y,
            accumulator: accumulator, temporary: evictTemporary)
        let finale = accumulator.map { epilogue(accumulator: $0, yTile: yTile, y: y) } ?? []
        let xDepth = max(order.depth(of: .m), order.depth(of: .k))
        let wDepth = max(order.depth(of: .k), order.depth(of: .n))

        func level(_ depth: Int) -> [Stmt] {
            let dimension = order.dimensions[depth]
            var body: [Stmt] = []
            if xDepth == depth { body += xLoad }
            if wDepth == depth { body += wLoad }
            body += depth < 2 ? level(depth + 1) : compute
            let kind: LoopKind = dimension == .k && spansKBlocks ? .sequential : .affine
            let loop = Stmt.loop(Loop(blockLoop[dimension], trips: blocks(dimension), kind: kind, body: body))
            guard dimension == .k, let accumulator else { return [loop] }
            if inPSUM { return [.allocate(accumulator.id), loop] + finale }
            let whole = Access(whole: accumulator)
            return [.allocate(accumulator.id), .op(.memset(dst: whole, value: 0, engine: evict)), loop]
                + finale
        }
        var prologue: [Stmt] = []
        if let gamma, let gammaRows {
            let columns = range(.k, local: .const(0), global: .const(0), size: extent(.k))
            prologue = [
                .allocate(gammaRows.id),
                .op(
                    .dma(
                        dst: Access(gammaRows, [.full(tm), columns]),
                        src: Access(gamma, [.broadcast(.const(0), count: tm), columns]), queue: 1)),
            ]
        }
        if resident { prologue += loadAllW(w: w, wAll: wBlock) }
        var program = builder.program(name: kernelName, body: prologue + level(0))
        // The norm weight and a resident W depend on nothing the kernel computes.
        program.prefetch = prologue.count
        return program
    }

    private mutating func loadX(x: BufferDecl, xBlock: BufferDecl, bufs: Int, gammaRows: BufferDecl?) -> [Stmt] {
        let (tm, tk) = (tile[.m], tile[.k])
        let loadK = builder.variable("lk")
        let kGlobal = blockStart(.k) + .term(loadK, tk)
        let kRange = range(.k, local: .const(0), global: kGlobal, size: tk)
        switch layout {
        case .pretransposed:
            let dst = Access(
                xBlock,
                [
                    kRange, .index(.term(loadK)),
                    range(.m, local: .const(0), global: blockStart(.m), size: extent(.m)),
                ])
            let src = Access(
                x,
                [
                    range(.k, local: kGlobal, global: kGlobal, size: tk),
                    range(.m, local: blockStart(.m), global: blockStart(.m), size: extent(.m)),
                ])
            return [
                .allocate(xBlock.id),
                .loop(Loop(loadK, trips: block[.k], body: [.op(.dma(dst: dst, src: src, queue: 0))])),
            ]
        case .dmaTranspose:
            let loadM = builder.variable("lm")
            let mGlobal = blockStart(.m) + .term(loadM, tm)
            let dst = Access(
                xBlock, [kRange, .index(.term(loadK)), range(.m, local: .term(loadM, tm), global: mGlobal, size: tm)])
            let src = Access(
                x,
                [
                    range(.m, local: mGlobal, global: mGlobal, size: tm),
                    range(.k, local: kGlobal, global: kGlobal, size: tk),
                ])
            let inner = Loop(loadK, trips: block[.k], body: [.op(.dmaTranspose(dst: dst, src: src, queue: 0))])
            return [.allocate(xBlock.id), .loop(Loop(loadM, trips: block[.m], body: [.loop(inner)]))]
        case .tensorTranspose:
            let loadM = builder.variable("lm")
            let mGlobal = blockStart(.m) + .term(loadM, tm)
            let rows = builder.buffer("x_rows", .sbuf, [tm, extent(.k)], dtype, copies: bufs)
            let transposed = builder.buffer("xt_psum", .psum, [tk, tm], .fp32, copies: 2)
            let mRange = range(.m, local: .const(0), global: mGlobal, size: tm)
            let rowsLoad = Stmt.op(
                .dma(
                    dst: Access(
                        rows, [mRange, range(.k, local: .const(0), global: blockStart(.k), size: extent(.k))]),
                    src: Access(
                        x,
                        [
                            range(.m, local: mGlobal, global: mGlobal, size: tm),
                            range(.k, local: blockStart(.k), global: blockStart(.k), size: extent(.k)),
                        ]),
                    queue: 0))
            var normalise: [Stmt] = []
            var source = rows
            if let gammaRows {
                let (statements, normalised) = normaliseRows(rows, gammaRows: gammaRows, rowRange: mRange, bufs: bufs)
                normalise = statements
                source = normalised
            }
            let piece = Access(source, [mRange, range(.k, local: .term(loadK, tk), global: kGlobal, size: tk)])
            let flipped = Access(transposed, [kRange, mRange])
            let dst = Access(
                xBlock, [kRange, .index(.term(loadK)), range(.m, local: .term(loadM, tm), global: mGlobal, size: tm)])
            let inner = Loop(
                loadK, trips: block[.k],
                body: [
                    .allocate(transposed.id), .op(.transpose(dst: flipped, src: piece)),
                    .op(evictCopy(dst: dst, src: flipped)),
                ])
            return [
                .allocate(xBlock.id),
                .loop(
                    Loop(loadM, trips: block[.m], body: [.allocate(rows.id), rowsLoad] + normalise + [.loop(inner)])),
            ]
        }
    }

    /// RMSNorm of whole X rows in SBUF, rounded as Hugging Face does; returns the normalised rows.
    private mutating func normaliseRows(
        _ rows: BufferDecl, gammaRows: BufferDecl, rowRange: AffineRange, bufs: Int
    ) -> ([Stmt], BufferDecl) {
        let tm = tile[.m]
        let columns = range(.k, local: .const(0), global: .const(0), size: extent(.k))
        let squares = builder.buffer("x_squares", .sbuf, [tm, extent(.k)], .fp32, copies: bufs)
        let total = builder.buffer("x_sum_squares", .sbuf, [tm, 1], .fp32, copies: bufs)
        let scaled = builder.buffer("x_scaled", .sbuf, [tm, extent(.k)], .bf16, copies: bufs)
        let normalised = builder.buffer("x_normalised", .sbuf, [tm, extent(.k)], .bf16, copies: bufs)
        let column = Access(total, [rowRange, .full(1)])
        func whole(_ buffer: BufferDecl) -> Access { Access(buffer, [rowRange, columns]) }
        let statements: [Stmt] =
            [
                .allocate(squares.id), .allocate(total.id),
                .op(.activation(dst: whole(squares), src: whole(rows), function: .square, reduce: column)),
            ] + KernelIdioms.inverseRMS(into: column, sumOfSquares: column, count: size[.k], epsilon: normEpsilon) + [
                .allocate(scaled.id),
                .op(
                    .tensorScalar(
                        dst: whole(scaled), src: whole(rows), steps: [ScalarStep(.multiply, .perPartition(column))],
                        engine: .vector)),
                .allocate(normalised.id),
                .op(
                    .tensorTensor(
                        dst: whole(normalised), a: whole(scaled), b: whole(gammaRows), op: .multiply, engine: .vector)),
            ]
        return (statements, normalised)
    }

    private mutating func loadW(w: BufferDecl, wBlock: BufferDecl) -> [Stmt] {
        let tk = tile[.k]
        let loadK = builder.variable("wk")
        let kGlobal = blockStart(.k) + .term(loadK, tk)
        let dst = Access(
            wBlock,
            [
                range(.k, local: .const(0), global: kGlobal, size: tk), .index(.term(loadK)),
                range(.n, local: .const(0), global: blockStart(.n), size: extent(.n)),
            ])
        let src = Access(
            w,
            [
                range(.k, local: kGlobal, global: kGlobal, size: tk),
                range(.n, local: blockStart(.n), global: blockStart(.n), size: extent(.n)),
            ])
        return [
            .allocate(wBlock.id),
            .loop(Loop(loadK, trips: block[.k], body: [.op(.dma(dst: dst, src: src, queue: 1))])),
        ]
    }

    /// All of W into SBUF, one DMA of `tile_k` rows per K tile: `[tile_k, K tiles, N]` (the K tiles
    /// rounded up to whole blocks, which the products index).
    private mutating func loadAllW(w: BufferDecl, wAll: BufferDecl) -> [Stmt] {
        let tk = tile[.k]
        let loadK = builder.variable("wk")
        let kGlobal = Affine.term(loadK, tk)
        let dst = Access(
            wAll, [range(.k, local: .const(0), global: kGlobal, size: tk), .index(.term(loadK)), .full(size[.n])])
        let src = Access(w, [range(.k, local: kGlobal, global: kGlobal, size: tk), .full(size[.n])])
        return [
            .allocate(wAll.id),
            .loop(Loop(loadK, trips: ceilDiv(size[.k], tk), body: [.op(.dma(dst: dst, src: src, queue: 1))])),
        ]
    }

    private func evictCopy(dst: Access, src: Access) -> Instruction {
        KernelIdioms.eviction(dst: dst, src: src, function: .copy, engine: evict)
    }

    private func computeNest(
        xBlock: BufferDecl, wBlock: BufferDecl, resident: Bool, psum: BufferDecl?, yTile: BufferDecl, y: BufferDecl,
        accumulator: BufferDecl?, temporary: BufferDecl?
    ) -> [Stmt] {
        let (tm, tk, tn) = (tile[.m], tile[.k], tile[.n])
        let (im, ik, in_) = (tileLoop[.m], tileLoop[.k], tileLoop[.n])
        let mGlobal = blockStart(.m) + .term(im, tm)
        let nGlobal = blockStart(.n) + .term(in_, tn)
        let kGlobal = blockStart(.k) + .term(ik, tk)
        let mRange = range(.m, local: .const(0), global: mGlobal, size: tm)
        let nRange = range(.n, local: .const(0), global: nGlobal, size: tn)
        let kRange = range(.k, local: .const(0), global: kGlobal, size: tk)
        // Products go straight into the PSUM accumulator when there is one, else into a PSUM tile.
        let direct = accumulator?.memory == .psum
        let product: Access
        var body: [Stmt] = []
        if let accumulator, direct {
            product = Access(
                accumulator, [mRange, .index(.term(im)), range(.n, local: .term(in_, tn), global: nGlobal, size: tn)])
        } else if let psum {
            product = Access(psum, [mRange, nRange])
            body.append(.allocate(psum.id))
        } else {
            preconditionFailure("linear: no PSUM destination for the products")
        }
        let group = direct ? [blockLoop[.k].id, ik.id] : [ik.id]
        let matmul = Instruction.matmul(
            dst: product,
            stationary: Access(
                xBlock, [kRange, .index(.term(ik)), range(.m, local: .term(im, tm), global: mGlobal, size: tm)]),
            moving: resident
                ? Access(
                    wBlock,
                    [
                        kRange, .index(.term(blockLoop[.k], block[.k]) + .term(ik)),
                        range(.n, local: nGlobal, global: nGlobal, size: tn),
                    ])
                : Access(
                    wBlock, [kRange, .index(.term(ik)), range(.n, local: .term(in_, tn), global: nGlobal, size: tn)]),
            accumulation: .acrossLoops(group))
        let products = Stmt.loop(Loop(ik, trips: block[.k], body: [.op(matmul)]))
        body.append(products)
        if let accumulator, !direct {
            let mIndex: Affine = (inside(.m, of: .k) ? .term(blockLoop[.m], block[.m]) : .const(0)) + .term(im)
            let nOffset: Affine = (inside(.n, of: .k) ? blockStart(.n) : .const(0)) + .term(in_, tn)
            let slot = Access(
                accumulator, [mRange, .index(mIndex), range(.n, local: nOffset, global: nGlobal, size: tn)])
            body.append(.op(.tensorTensor(dst: slot, a: slot, b: product, op: .add, engine: evict)))
        } else if accumulator == nil {
            let out = Access(yTile, [mRange, nRange])
            body.append(.allocate(yTile.id))
            body += finish(from: product, into: out, temporary: temporary)
            let store = Access(
                y,
                [
                    range(.m, local: mGlobal, global: mGlobal, size: tm),
                    range(.n, local: nGlobal, global: nGlobal, size: tn),
                ])
            body.append(.op(.dma(dst: store, src: out, queue: 2)))
        }
        let inner = Loop(in_, trips: block[.n], body: body)
        return [.loop(Loop(im, trips: block[.m], body: [.loop(inner)]))]
    }

    /// Moves a finished fp32 tile into the output tile, applying the activation.
    private func finish(from source: Access, into out: Access, temporary: BufferDecl?) -> [Stmt] {
        if activation == .copy { return [.op(evictCopy(dst: out, src: source))] }
        if let temporary {
            let staged = Access(temporary, out.ranges)
            return [
                .allocate(temporary.id), .op(.copy(dst: staged, src: source, engine: evict)),
                .op(.activation(dst: out, src: staged, function: activation, scale: 1)),
            ]
        }
        return [.op(.activation(dst: out, src: source, function: activation, scale: 1))]
    }

    private mutating func epilogue(accumulator: BufferDecl, yTile: BufferDecl, y: BufferDecl) -> [Stmt] {
        let (tm, tn) = (tile[.m], tile[.n])
        let em = builder.variable("em")
        let en = builder.variable("en")
        let mGlobal: Affine = (inside(.m, of: .k) ? .const(0) : blockStart(.m)) + .term(em, tm)
        let nGlobal: Affine = (inside(.n, of: .k) ? .const(0) : blockStart(.n)) + .term(en, tn)
        let mRange = range(.m, local: .const(0), global: mGlobal, size: tm)
        let nRange = range(.n, local: .const(0), global: nGlobal, size: tn)
        let source = Access(
            accumulator, [mRange, .index(.term(em)), range(.n, local: .term(en, tn), global: nGlobal, size: tn)])
        let out = Access(yTile, [mRange, nRange])
        let move = KernelIdioms.eviction(dst: out, src: source, function: activation, engine: evict)
        let store = Access(
            y,
            [
                range(.m, local: mGlobal, global: mGlobal, size: tm),
                range(.n, local: nGlobal, global: nGlobal, size: tn),
            ])
        let body: [Stmt] = [.allocate(yTile.id), .op(move), .op(.dma(dst: store, src: out, queue: 2))]
        let inner = Loop(en, trips: accumulator.shape[2] / tn, body: body)
        return [.loop(Loop(em, trips: accumulator.shape[1], body: [.loop(inner)]))]
    }
}
