extension MoEBlockDecodeTemplate {
    /// The stages' programs chained: norm, router, experts.
    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        let problems = problems(problem)
        let normProgram = norm.program(
            for: problems.norm, configuration: self.configuration(of: 0, configuration, for: problem))
        let routerProgram = router.program(
            for: problems.router, configuration: self.configuration(of: 1, configuration, for: problem))
        let expertProgram = experts.program(
            for: problems.experts, configuration: self.configuration(of: 2, configuration, for: problem))
        // Arguments: 0 x, 1 residual, 2 norm_weight, 3 router_weight, 4 gate_up, 5 down.
        let chain = ProgramChain(
            stages: [
                .init(normProgram, inputs: [.argument(0), .argument(1), .argument(2)]),
                .init(routerProgram, inputs: [.output(stage: 0, index: 0), .argument(3)], prefetchAt: 0),
                .init(
                    expertProgram,
                    inputs: [
                        .output(stage: 0, index: 0), .argument(4), .argument(5), .output(stage: 1, index: 1),
                        .output(stage: 1, index: 0),
                    ]),
            ],
            results: [ProgramChain.Output(stage: 0, index: 1), ProgramChain.Output(stage: 2, index: 0)])
        var program = configuration[StageHandoff.key].apply(
            to: chain.program(
                name: "moe_block_decode_kernel",
                arguments: ["x", "residual", "norm_weight", "router_weight", "gate_up", "down"]))
        program.buffers[program.outputs[1].id].name = "experts_out"
        return program
    }
}
