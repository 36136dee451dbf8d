import Foundation

extension AttentionDecodeTemplate {
    /// The tile program of a configuration that passes the restrictions.
    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        program(for: problem, configuration: configuration, newKey: false)
    }

    /// The tile program, and with `newKey` the program a fused block runs before it writes the
    /// token's key into the cache: a fourth input `k_new [kv_heads, d]` holds the key of the
    /// last position, whose column of the cache is stale. The key is transposed with the queries
    /// and its scores replace the stale column's, so the K loads wait for no write; each score is
    /// the same products summed in the same order, so the output is the same bits.
    func program(for problem: Problem, configuration: Configuration, newKey: Bool) -> KernelProgram {
        var builder = AttentionDecodeBuilder(
            shape: Shape(AttentionShape.coreProblem(problem, configuration)), configuration: configuration,
            newKey: newKey)
        return AttentionShape.spread(builder.build(), problem, configuration)
    }
}

/// Builds the program of one ``AttentionDecodeTemplate`` configuration: per KV head, the scores of
/// its query heads in S chunks, a softmax over all S, then `P V` over chunks of 128 positions.
private struct AttentionDecodeBuilder {
    let shape: AttentionDecodeTemplate.Shape
    let configuration: Configuration
    /// Whether the last position's key comes from input `k_new` instead of the cache.
    let newKey: Bool
    private var b = ProgramBuilder()

    init(shape: AttentionDecodeTemplate.Shape, configuration: Configuration, newKey: Bool) {
        self.shape = shape
        self.configuration = configuration
        self.newKey = newKey
    }

    mutating func build() -> KernelProgram {
        let (positions, heads, kvHeads, d) = (shape.positions, shape.heads, shape.keyValueHeads, shape.headDim)
        let group = heads / kvHeads
        let tile = configuration[AttentionDecodeTemplate.sTile]
        let bufs = configuration[AttentionDecodeTemplate.bufs]
        let layout = configuration[AttentionDecodeTemplate.kLayout]
        let splits = configuration[AttentionDecodeTemplate.pvSplits]
        let scaleByScalar = configuration[AttentionDecodeTemplate.scaleEngine] == .scalar
        let normaliseFirst = configuration[AttentionDecodeTemplate.normalise] == .before
        let q = b.buffer("q", .hbm, [heads, d], .bf16, role: .input(0))
        let k =
            layout == .pretransposed
            ? b.buffer("k_cache_t", .hbm, [kvHeads * d, positions], .bf16, role: .input(1))
            : b.buffer("k_cache", .hbm, [kvHeads * positions, d], .bf16, role: .input(1))
        let v = b.buffer("v_cache", .hbm, [kvHeads * positions, d], .bf16, role: .input(2))
        let out = b.buffer("attention_out", .hbm, [heads, d], .bf16, role: .output)
        // With the new key, its row follows the queries' and is transposed with them.
        let columns = newKey ? group + 1 : group
        let qRows = b.buffer("q_rows", .sbuf, [columns, d], .bf16)
        let qT = b.buffer("q_t", .sbuf, [d, columns], .bf16)
        let flip = b.buffer("flip_psum", .psum, [128, 128], .fp32, copies: 2)
        let kT = b.buffer("k_t", .sbuf, [d, tile], .bf16, copies: bufs)
        let scorePSUM = b.buffer("score_psum", .psum, [group, tile], .fp32, copies: 2)
        let scores = b.buffer("scores", .sbuf, [group, positions], .fp32)
        let largest = b.buffer("row_max", .sbuf, [group, 1], .fp32)
        let negated = b.buffer("neg_max", .sbuf, [group, 1], .fp32)
        let total = b.buffer("row_sum", .sbuf, [group, 1], .fp32)
        let exponentials = b.buffer("exp_scores", .sbuf, [group, positions], .fp32)
        let probabilities = b.buffer("probabilities", .sbuf, [group, positions], .bf16)
        let pT = b.buffer("p_t", .sbuf, [128, group], .bf16, copies: bufs)
        let vChunk = b.buffer("v_chunk", .sbuf, [128, d], .bf16, copies: bufs)
        let pvPSUM = b.buffer("pv_psum", .psum, [group, d], .fp32, copies: 2)
        let result = b.buffer("out_rows", .sbuf, [group, d], .bf16, copies: 2)
        let kv = b.variable("g")
        let chunk = b.variable("c")
        let sub = b.variable("r")
        let step = b.variable("j")
        let headRows = AffineRange(start: .term(kv, group), size: group)
        func column(_ buffer: BufferDecl) -> Access { Access(buffer, [.full(group), .full(1)]) }
        func rows(_ buffer: BufferDecl) -> Access { Access(buffer, [.full(group), .full(buffer.shape[1])]) }

        // q^T for this KV head's query heads: [d, group] (and the new key's column after them).
        let queryRows = Access(qRows, [.full(group), .full(d)])
        var body: [Stmt] = [
            .allocate(qRows.id), .op(.dma(dst: queryRows, src: Access(q, [headRows, .full(d)]), queue: 0)),
        ]
        if newKey {
            let keys = b.buffer("k_new", .hbm, [kvHeads, d], .bf16, role: .input(3))
            body.append(
                .op(
                    .dma(
                        dst: Access(qRows, [.index(.const(group)), .full(d)]),
                        src: Access(keys, [.index(.term(kv)), .full(d)]), queue: 3)))
        }
        let qFlip = Access(flip, [.full(d).with(size: d), AffineRange(start: .const(0), size: columns)])
        let queries = Access(qT, [.full(d), .full(group)])
        body += [
            .allocate(flip.id), .op(.transpose(dst: qFlip, src: Access(qRows, [.full(columns), .full(d)]))),
            .allocate(qT.id), .op(.copy(dst: Access(qT, [.full(d), .full(columns)]), src: qFlip, engine: .vector)),
        ]

        // Scores, s_tile positions at a time.
        let chunkStart = Affine.term(chunk, tile)
        let chunkLimit: Affine? = positions % tile == 0 ? nil : .const(positions) + (-chunkStart)
        let chunkColumns = AffineRange(start: .const(0), size: tile, limit: chunkLimit)
        let keysT = Access(kT, [.full(d), chunkColumns])
        // With the new key the cache's last position is not loaded: its key is stale (the block
        // writes it later, and the other core may be writing it), and its scores are replaced.
        let keyPositions = newKey ? positions - 1 : positions
        let keyLimit: Affine? = !newKey && positions % tile == 0 ? nil : .const(keyPositions) + (-chunkStart)
        let loadedKeys = AffineRange(start: .const(0), size: tile, limit: keyLimit)
        var scoreBody: [Stmt] = [.allocate(kT.id)]
        switch layout {
        case .pretransposed:
            let src = Access(
                k,
                [
                    AffineRange(start: .term(kv, d), size: d),
                    AffineRange(start: chunkStart, size: tile, limit: keyLimit),
                ])
            scoreBody.append(.op(.dma(dst: Access(kT, [.full(d), loadedKeys]), src: src, queue: 1)))
        case .dmaTranspose:
            let src = Access(
                k, [AffineRange(start: .term(kv, positions) + chunkStart, size: tile, limit: keyLimit), .full(d)])
            scoreBody.append(.op(.dmaTranspose(dst: Access(kT, [.full(d), loadedKeys]), src: src, queue: 1)))
        case .tensorTranspose:
            let kRows = b.buffer("k_rows", .sbuf, [128, d], .bf16, copies: bufs)
            let subStart = chunkStart + .term(sub, 128)
            let whole = positions % 128 == 0 && positions % tile == 0
            let subLimit: Affine? = whole ? nil : .const(positions) + (-subStart)
            let subKeyLimit: Affine? = whole && !newKey ? nil : .const(keyPositions) + (-subStart)
            let subRows = AffineRange(start: .const(0), size: 128, limit: subLimit)
            let loadedRows = AffineRange(start: .const(0), size: 128, limit: subKeyLimit)
            let flipped = Access(flip, [.full(d).with(size: d), subRows])
            scoreBody.append(
                .loop(
                    Loop(
                        sub, trips: tile / 128,
                        body: [
                            .allocate(kRows.id),
                            .op(
                                .dma(
                                    dst: Access(kRows, [loadedRows, .full(d)]),
                                    src: Access(
                                        k,
                                        [
                                            AffineRange(
                                                start: .term(kv, positions) + subStart, size: 128, limit: subKeyLimit),
                                            .full(d),
                                        ]),
                                    queue: 1)),
                            .allocate(flip.id), .op(.transpose(dst: flipped, src: Access(kRows, [subRows, .full(d)]))),
                            .op(
                                .copy(
                                    dst: Access(
                                        kT, [.full(d), AffineRange(start: .term(sub, 128), size: 128, limit: subLimit)]),
                                    src: flipped, engine: .vector)),
                        ])))
        }
        let scoreTile = Access(scorePSUM, [.full(group), chunkColumns])
        let scoreSlot = Access(scores, [.full(group), AffineRange(start: chunkStart, size: tile, limit: chunkLimit)])
        let scale = Float(1 / Foundation.sqrt(Double(d)))
        func scaled(_ slot: Access, _ products: Access) -> Stmt {
            .op(
                scaleByScalar
                    ? .activation(dst: slot, src: products, function: .copy, scale: scale)
                    : .tensorScalar(
                        dst: slot, src: products, steps: [ScalarStep(.multiply, .immediate(scale))], engine: .vector))
        }
        scoreBody += [
            .allocate(scorePSUM.id),
            .op(.matmul(dst: scoreTile, stationary: queries, moving: keysT, accumulation: .overwrite)),
            scaled(scoreSlot, scoreTile),
        ]
        body += [.allocate(scores.id), .loop(Loop(chunk, trips: (positions + tile - 1) / tile, body: scoreBody))]
        if newKey {
            // The last position's scores again, from the new key: the cache's column is stale.
            let last = AffineRange.index(.const(positions - 1))
            let newScores = Access(scorePSUM, [.full(group), .index(.const(0))])
            body += [
                .allocate(scorePSUM.id),
                .op(
                    .matmul(
                        dst: newScores, stationary: queries, moving: Access(qT, [.full(d), .index(.const(group))]),
                        accumulation: .overwrite)),
                scaled(Access(scores, [.full(group), last]), newScores),
            ]
        }

        // Softmax over all positions.
        body += KernelIdioms.softmaxNumerator(
            scores: rows(scores), exponentials: rows(exponentials), largest: column(largest), negated: column(negated),
            total: column(total))
        body.append(.allocate(probabilities.id))
        if normaliseFirst {
            body.append(
                .op(
                    .tensorScalar(
                        dst: rows(probabilities), src: rows(exponentials),
                        steps: [ScalarStep(.divide, .perPartition(column(total)))], engine: .vector)))
        }

        // P V over chunks of 128 positions, in `splits` partial PSUM sums (one: no loop over them).
        let chunks = (positions + 127) / 128
        let perSplit = (chunks + splits - 1) / splits
        let split = splits > 1 ? b.variable("sp") : nil
        let position = split.map { Affine.term($0, perSplit * 128) + .term(step, 128) } ?? .term(step, 128)
        let positionLimit: Affine? =
            positions % 128 == 0 && chunks % splits == 0 ? nil : .const(positions) + (-position)
        let pieceRows = AffineRange(start: .const(0), size: 128, limit: positionLimit)
        let pFlip = Access(flip, [pieceRows, AffineRange(start: .const(0), size: group)])
        let pvTile = Access(pvPSUM, [.full(group), .full(d)])
        let piece = AffineRange(start: position, size: 128, limit: positionLimit)
        // Unnormalised, P is rounded to bf16 a chunk at a time on ScalarE, each chunk just before its
        // transpose: the same bits as one copy of the whole row, and the first `P V` product waits
        // for one chunk instead of all S.
        let rounding: [Stmt] =
            normaliseFirst
            ? []
            : [
                .op(
                    .activation(
                        dst: Access(probabilities, [.full(group), piece]),
                        src: Access(exponentials, [.full(group), piece]), function: .copy))
            ]
        let stepBody: [Stmt] =
            rounding + [
                .allocate(flip.id),
                .op(.transpose(dst: pFlip, src: Access(probabilities, [.full(group), piece]))),
                .allocate(pT.id), .op(.copy(dst: Access(pT, [pieceRows, .full(group)]), src: pFlip, engine: .vector)),
                .allocate(vChunk.id),
                .op(
                    .dma(
                        dst: Access(vChunk, [pieceRows, .full(d)]),
                        src: Access(
                            v,
                            [
                                AffineRange(start: .term(kv, positions) + position, size: 128, limit: positionLimit),
                                .full(d),
                            ]),
                        queue: 2)),
                .op(
                    .matmul(
                        dst: pvTile, stationary: Access(pT, [pieceRows, .full(group)]),
                        moving: Access(vChunk, [pieceRows, .full(d)]),
                        accumulation: .acrossLoops([step.id]))),
            ]
        // One split's sum is read from PSUM as it is; several are added in fp32 in split order.
        var summed = pvTile
        if let split {
            let accumulator = b.buffer("pv_sum", .sbuf, [group, d], .fp32)
            summed = rows(accumulator)
            body += [
                .allocate(accumulator.id), .op(.memset(dst: summed, value: 0, engine: .vector)),
                .loop(
                    Loop(
                        split, trips: splits,
                        body: [
                            .allocate(pvPSUM.id), .loop(Loop(step, trips: perSplit, body: stepBody)),
                            .op(.tensorTensor(dst: summed, a: summed, b: pvTile, op: .add, engine: .vector)),
                        ])),
            ]
        } else {
            body += [.allocate(pvPSUM.id), .loop(Loop(step, trips: perSplit, body: stepBody))]
        }
        body += [
            .allocate(result.id),
            .op(
                normaliseFirst
                    ? .copy(dst: rows(result), src: summed, engine: .vector)
                    : .tensorScalar(
                        dst: rows(result), src: summed, steps: [ScalarStep(.divide, .perPartition(column(total)))],
                        engine: .vector)),
            .op(.dma(dst: Access(out, [headRows, .full(d)]), src: rows(result), queue: 0)),
        ]
        return b.program(name: "attention_decode_kernel", body: [.loop(Loop(kv, trips: kvHeads, body: body))])
    }
}

extension AffineRange {
    /// The same range with another size.
    func with(size: Int) -> AffineRange { AffineRange(start: start, size: size, limit: limit, stride: stride) }
}
