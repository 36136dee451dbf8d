extension StationaryExpertBuilder {
    /// The program of `split=experts_hidden` on two cores. Core `c` projects gate and up for its
    /// half of each token's experts (slots `c k/2 ..< (c + 1) k/2`) and stores SiLU(gate) * up in
    /// HBM; after a barrier on those activations each core loads all `k` of them and runs every
    /// expert's down projection for its half of the hidden columns, weighting and summing the
    /// experts in slot order, and stores its half of the output. Nothing is summed across cores,
    /// so the result is bit for bit the one-core program's. The down weights (all `k` experts'
    /// halves, resident) stream while the cores wait at the barrier, and each core projects its
    /// own experts, whose activations never left SBUF, before the other core's arrive. With fp32
    /// sums each expert's weighted product is formed as its projection ends, and one reduction over
    /// the slots adds them in slot order.
    ///
    /// A core's half of the hidden columns lies interleaved on its own partitions (local column
    /// `p * tiles + hc`), so every down matmul fills all 128 stationary columns.
    mutating func buildExchange() -> KernelProgram {
        let (tokens, hidden, columns, _, k) = shape.dimensions
        let accumulatorType = configuration[Key.accumulatorType].dtype
        let arguments = ExpertMLPDecodeArguments(&b, shape: shape, partialType: nil)
        let core = b.coreIndex()
        let indexSB = b.buffer("expert_index_sb", .sbuf, [tokens, k], .int32)
        let (t, slot, hc) = (b.variable("t"), b.variable("j"), b.variable("hc"))
        let tokenColumn = AffineRange.index(.term(t))
        let ownSlot = Affine.term(slot) + .term(core, k / 2)
        let columnTiles = (columns + 127) / 128
        let own = b.buffer("hidden_act_own", .sbuf, [128, tokens, k / 2, columnTiles], .bf16)
        let activation = activation(
            arguments, token: t, expertIndex: Access(indexSB, [tokenColumn, .index(ownSlot)]),
            output: (own, [tokenColumn, .index(.term(slot))]))
        let (it, columnRows) = (activation.it, activation.columnRows)
        let half = hidden / 2
        let (partitions, hiddenTiles) = (min(128, half), half / min(128, half))
        let routing = routingWeights(arguments, token: t, partitions: partitions)
        let exchanged = b.buffer("hidden_act_exchange", .hbm, [tokens, 128, k, columnTiles], .bf16)
        let products = b.buffer("hidden_act_all", .sbuf, [128, k, columnTiles], .bf16, copies: 2)
        let downSB = b.buffer("down_half_sb", .sbuf, [128, columnTiles, half], .bf16, copies: k)
        let downT = b.buffer("down_t_psum", .psum, [partitions, k, hiddenTiles], .fp32, copies: 2)
        // With fp32 sums, every slot's product is kept and one reduction over the slots adds them
        // in slot order (the same sums as adding them one by one, without a chain of dependent adds).
        let reduces = accumulatorType == .fp32
        let scaled =
            reduces
            ? b.buffer("scaled_t", .sbuf, [partitions, hiddenTiles, k], .fp32)
            : b.buffer("scaled_t", .sbuf, [partitions, hiddenTiles], accumulatorType, copies: 2)
        let sum = b.buffer("expert_sum_t", .sbuf, [partitions, hiddenTiles, tokens], accumulatorType)
        let result =
            accumulatorType == .bf16 ? sum : b.buffer("y_t", .sbuf, [partitions, hiddenTiles, tokens], .bf16)
        let allRows = AffineRange.full(tokens)
        func ownHalf(_ buffer: BufferDecl) -> Access {
            Access(buffer, [.full(partitions), .full(hiddenTiles), tokenColumn])
        }

        // Phase 1: gate/up of this core's experts; their activations go to HBM for both cores in
        // one DMA (every row of the last intermediate tile, used or not, so the store is whole).
        let project: [Stmt] = [
            .op(
                .dma(
                    dst: Access(
                        activation.xT, [.full(activation.partitions), .full(activation.hiddenTiles), tokenColumn]),
                    src: Access(arguments.x, [tokenColumn, .full(hidden)]), queue: 0)),
            .loop(Loop(slot, trips: k / 2, body: activation.load + activation.compute)),
            .op(
                .dma(
                    dst: Access(
                        exchanged,
                        [
                            tokenColumn, .full(128), AffineRange(start: .term(core, k / 2), size: k / 2),
                            .full(columnTiles),
                        ]),
                    src: Access(own, [.full(128), tokenColumn, .full(k / 2), .full(columnTiles)]), queue: 0)),
        ]
        // Phase 2: the down projection of the expert in slot `expert` for this core's half of the
        // hidden columns, into its column of `down_t_psum`, with SiLU(gate) * up from `moving`.
        func projectDown(_ expert: Affine, moving: (AffineRange) -> Access) -> [Stmt] {
            let down = self.down(
                arguments, activation, weights: downSB, expertIndex: Access(indexSB, [tokenColumn, .index(expert)]),
                hidden: AffineRange(start: .term(core, half), size: half), partitions: partitions, column: hc,
                into: Access(downT, [.full(partitions), .index(expert), .index(.term(hc))]),
                moving: moving(.index(.term(it))))
            return down.load + [down.project]
        }
        // This core's experts first (their activations are on chip), then the other core's; the
        // weighted sum then runs in slot order, as on one core.
        let otherSlot = Affine.term(slot) + .const(k / 2) + .term(core, -(k / 2))
        // The product of the expert in `expert`'s slot and its routing weight, into `dst`.
        func product(_ expert: Affine, into dst: Access) -> Stmt {
            .op(
                .tensorScalar(
                    dst: dst, src: Access(downT, [.full(partitions), .index(expert), .full(hiddenTiles)]),
                    steps: [
                        ScalarStep(
                            .multiply, .perPartition(Access(routing.weights, [.full(partitions), .index(expert)])))
                    ], engine: .vector))
        }
        func slotProduct(_ expert: Affine) -> [Stmt] {
            reduces
                ? [product(expert, into: Access(scaled, [.full(partitions), .full(hiddenTiles), .index(expert)]))] : []
        }
        let total: [Stmt]
        if reduces {
            let all = Access(scaled, [.full(partitions), .full(hiddenTiles), .full(k)])
            total = [.op(.tensorReduce(dst: ownHalf(sum), src: all, op: .add))]
        } else {
            let scaledAll = Access(scaled, [.full(partitions), .full(hiddenTiles)])
            let weigh: [Stmt] = [
                .allocate(scaled.id), product(.term(slot), into: scaledAll),
                .op(.tensorTensor(dst: ownHalf(sum), a: ownHalf(sum), b: scaledAll, op: .add, engine: .vector)),
            ]
            total = [.loop(Loop(slot, trips: k, kind: .sequential, body: weigh))]
        }
        let experts: [Stmt] =
            [.allocate(downT.id)] + (reduces ? [.allocate(scaled.id)] : []) + [
                .loop(
                    Loop(
                        slot, trips: k / 2,
                        body: projectDown(ownSlot) { Access(own, [columnRows, tokenColumn, .index(.term(slot)), $0]) }
                            + slotProduct(ownSlot))),
                .loop(
                    Loop(
                        slot, trips: k / 2,
                        body: projectDown(otherSlot) { Access(products, [columnRows, .index(otherSlot), $0]) }
                            + slotProduct(otherSlot))),
            ] + total
        var finish: [Stmt] = []
        if result.id != sum.id {
            finish = [.allocate(result.id), .op(.copy(dst: ownHalf(result), src: ownHalf(sum), engine: .vector))]
        }
        finish.append(
            .op(
                .dma(
                    dst: Access(arguments.y, [tokenColumn, AffineRange(start: .term(core, half), size: half)]),
                    src: ownHalf(result), queue: 0)))
        let reduce: [Stmt] =
            [
                .allocate(products.id),
                .op(
                    .dma(
                        dst: Access(products, [.full(128), .full(k), .full(columnTiles)]),
                        src: Access(exchanged, [tokenColumn, .full(128), .full(k), .full(columnTiles)]), queue: 0)),
            ] + routing.perToken + experts + finish
        let body =
            prologue(
                arguments, indices: indexSB, routing: routing.setup, allocating: [activation.xT, own, sum],
                zeroing: reduces ? nil : Access(sum, [.full(partitions), .full(hiddenTiles), allRows])) + [
                .loop(Loop(t, trips: tokens, body: project)), .barrier(exchanged.id),
                .loop(Loop(t, trips: tokens, body: reduce)),
            ]
        return b.program(name: "expert_mlp_decode_kernel", body: body, cores: 2, coreVariable: core)
    }
}
