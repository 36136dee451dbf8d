extension MoEBlockDecodeTemplate {
    /// The stages' programs chained: norm, router, experts, then the residual add.
    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        let problems = problems(problem)
        let normProgram = norm.program(
            for: problems.norm, configuration: self.configuration(of: 0, configuration, for: problem))
        let routerProgram = router.program(
            for: problems.router, configuration: self.configuration(of: 1, configuration, for: problem))
        let expertProgram = experts.program(
            for: problems.experts, configuration: self.configuration(of: 2, configuration, for: problem))
        let shape = ExpertShape(problem)
        // On two cores each adds the half of the columns its experts' combine wrote.
        let cores = expertProgram.cores
        let half = residualAdd(
            tokens: shape.tokens, hidden: shape.hidden / cores, engine: configuration[Self.addEngine])
        let add =
            cores > 1
            ? half.spread(over: cores, slicing: [half.inputs[0].id: 1, half.inputs[1].id: 1, half.outputs[0].id: 1])
            : half
        // Arguments: 0 x, 1 residual, 2 norm_weight, 3 router_weight, 4 gate_up, 5 down.
        let chain = ProgramChain(
            stages: [
                .init(normProgram, inputs: [.argument(0), .argument(1), .argument(2)]),
                .init(routerProgram, inputs: [.output(stage: 0, index: 0), .argument(3)]),
                .init(
                    expertProgram,
                    inputs: [
                        .output(stage: 0, index: 0), .argument(4), .argument(5), .output(stage: 1, index: 1),
                        .output(stage: 1, index: 0),
                    ]),
                .init(add, inputs: [.output(stage: 2, index: 0), .output(stage: 0, index: 1)]),
            ],
            results: [ProgramChain.Output(stage: 3, index: 0)])
        let chained = chain.program(
            name: "moe_block_decode_kernel",
            arguments: ["x", "residual", "norm_weight", "router_weight", "gate_up", "down"])
        return configuration[StageHandoff.key].apply(to: chained)
    }

    /// `out = residual_sum + experts`, rounded to bf16: one tile of `tokens` rows.
    private func residualAdd(tokens: Int, hidden: Int, engine: Engine) -> KernelProgram {
        var b = ProgramBuilder()
        let y = b.buffer("experts_out", .hbm, [tokens, hidden], .bf16, role: .input(0))
        let summed = b.buffer("residual_sum", .hbm, [tokens, hidden], .bf16, role: .input(1))
        let out = b.buffer("out", .hbm, [tokens, hidden], .bf16, role: .output)
        let ySB = b.buffer("experts_rows", .sbuf, [tokens, hidden], .bf16)
        let sumSB = b.buffer("residual_rows", .sbuf, [tokens, hidden], .bf16)
        let outSB = b.buffer("out_rows", .sbuf, [tokens, hidden], .bf16)
        let whole = [AffineRange.full(tokens), .full(hidden)]
        return b.program(
            name: "residual_add",
            body: [
                .allocate(sumSB.id), .op(.dma(dst: Access(sumSB, whole), src: Access(summed, whole), queue: 1)),
                .allocate(ySB.id), .op(.dma(dst: Access(ySB, whole), src: Access(y, whole), queue: 0)),
                .allocate(outSB.id),
                .op(
                    .tensorTensor(
                        dst: Access(outSB, whole), a: Access(sumSB, whole), b: Access(ySB, whole), op: .add,
                        engine: engine)),
                .op(.dma(dst: Access(out, whole), src: Access(outSB, whole), queue: 0)),
            ])
    }
}
