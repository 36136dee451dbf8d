extension AttentionBlockDecodeTemplate {
    /// The stages' programs chained: projection, norm and rotation, the value written into the
    /// cache, attention (the new key taken from the rotation, not the cache), the key written into
    /// the cache, output projection. The key is written after the attention reads the cache, so
    /// the attention's K loads wait for no write.
    public func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        let problems = problems(problem)
        let shape = AttentionShape(problem)
        let (heads, kvHeads, d) = (shape.heads, shape.keyValueHeads, shape.headDim)
        let attentionConfiguration = self.configuration(of: 2, configuration, for: problem)
        let projection = qkv.program(
            for: problems.qkv, configuration: self.configuration(of: 0, configuration, for: problem))
        let rotation = rope.program(
            for: problems.rope, configuration: self.configuration(of: 1, configuration, for: problem))
        let attended = attention.program(for: problems.attention, configuration: attentionConfiguration, newKey: true)
        let projected = output.program(
            for: problems.output, configuration: self.configuration(of: 3, configuration, for: problem))
        let layout = CacheLayout(
            keyValueHeads: kvHeads, positions: shape.positions, headDim: d,
            keysTransposed: attentionConfiguration[AttentionDecodeTemplate.kLayout] == .pretransposed)
        // Arguments: 0 x, 1 w_qkv, 2 norm_weight, 3 q_norm_weight, 4 k_norm_weight, 5 cos, 6 sin,
        // 7 k_cache, 8 v_cache, 9 w_o. q, k and v are column ranges of the projection's row.
        let chain = ProgramChain(
            stages: [
                .init(projection, inputs: [.argument(0), .argument(1), .argument(2)]),
                .init(
                    rotation,
                    inputs: [
                        .elements(stage: 0, index: 0, offset: 0), .elements(stage: 0, index: 0, offset: heads * d),
                        .argument(3), .argument(4), .argument(5), .argument(6),
                    ], waits: projection.cores > 1),
                .init(
                    layout.write(values: true),
                    inputs: [.elements(stage: 0, index: 0, offset: (heads + kvHeads) * d), .argument(8)]),
                .init(
                    attended,
                    inputs: [
                        .elements(stage: 1, index: 0, offset: 0), .argument(7), .argument(8),
                        .elements(stage: 1, index: 1, offset: 0),
                    ]),
                .init(layout.write(values: false), inputs: [.output(stage: 1, index: 1), .argument(7)]),
                .init(
                    projected, inputs: [.elements(stage: 3, index: 0, offset: 0), .argument(9)],
                    waits: attended.cores > 1, prefetchAt: configuration[Self.weights].stage),
            ],
            results: [ProgramChain.Output(stage: 5, index: 0)])
        var program = chain.program(
            name: "attention_block_decode_kernel",
            arguments: [
                "x", "w_qkv", "norm_weight", "q_norm_weight", "k_norm_weight", "cos", "sin", "k_cache", "v_cache",
                "w_o",
            ])
        if !program.buffers.contains(where: { $0.name == "out" }) {
            program.buffers[program.outputs[0].id].name = "out"
        }
        return configuration[StageHandoff.key].apply(to: program)
    }
}
