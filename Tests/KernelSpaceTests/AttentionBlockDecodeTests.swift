import KernelSpace
import Testing

/// The fused decode attention block: one program chained from the stages' programs and a cache write.
@Suite struct AttentionBlockDecodeTests {
    let block = AttentionBlockDecodeTemplate(epsilon: 1e-6, ropeTheta: 1_000_000)

    /// The stages' own programs run one after another on the interpreter (the caches updated between
    /// the rotation and the attention as the reference updates them).
    func unfused(_ problem: Problem, _ configuration: Configuration, _ inputs: [HostTensor]) throws -> (
        output: HostTensor, keys: HostTensor, values: HostTensor
    ) {
        let stageProblems = block.stageProblems(problem)
        return try block.chain(problem, inputs: inputs) { stage, inputs in
            let (template, stageProblem) = (block.stages[stage].template, stageProblems[stage])
            let configuration = block.configuration(of: stage, configuration, for: problem)
            return try Interpreter.run(
                template.program(for: stageProblem, configuration: configuration),
                inputs: template.arguments(inputs, problem: stageProblem, configuration: configuration))
        }
    }

    /// Every sampled configuration, on one core and on two: the fused kernel's output is bit for bit
    /// the unfused chain's and within tolerance of the reference, and the kernel leaves the new
    /// token's key and value in row `S - 1` of each KV head's cache and nothing else changed.
    @Test(arguments: ["H=256,S=200,heads=4,kv_heads=1,d=64", "H=128,S=130,heads=4,kv_heads=2,d=32,lnc=2"])
    func theFusedBlockIsBitForBitTheUnfusedChain(text: String) throws {
        let problem = try block.parseProblem(text)
        let inputs = block.inputs(for: problem, seed: 5)
        let expected = block.reference(for: problem, inputs: inputs)
        let space = SearchSpace(block)
        var configurations = validConfigurations(space, problem, limit: 10, seed: 3)
        #expect(configurations.count >= 4)
        if text.hasSuffix("lnc=2") {
            // And the first with every stage on one core (no split).
            var oneCore = configurations[0]
            for (index, name) in oneCore.names.enumerated() where name.hasSuffix("_split") {
                oneCore.values[index] = .choice("none")
            }
            #expect(block.restriction(oneCore, for: problem) == nil, "\(oneCore.key)")
            #expect(block.program(for: problem, configuration: oneCore).cores == 1, "\(oneCore.key)")
            configurations.append(oneCore)
        }
        configurations.append(try stationaryProjections(configurations[0], problem))
        configurations.append(try stationaryProjections(configurations[0], problem, outputOrder: "tiles"))
        var cores = Set<Int>()
        for configuration in configurations {
            let program = block.program(for: problem, configuration: configuration)
            cores.insert(program.cores)
            #expect(ResourceCheck.violation(of: program, limits: trn2Limits) == nil, "\(configuration.key)")
            let arguments = block.arguments(inputs, problem: problem, configuration: configuration)
            let (outputs, after) = try Interpreter.call(program, inputs: arguments)
            let chain = try unfused(problem, configuration, inputs)
            #expect(outputs[0].data.map(\.bitPattern) == chain.output.data.map(\.bitPattern), "\(configuration.key)")
            #expect(NumericCheck.relativeError(outputs[0], expected[0]) <= block.tolerance(for: problem))
            // The caches after the call are the reference's caches, in the kernel's layout.
            let (keys, values) = (chain.keys, chain.values)
            let laidOut = block.arguments(
                Array(inputs[0..<7]) + [keys, values, inputs[9]], problem: problem, configuration: configuration)
            #expect(after[7].data.map(\.bitPattern) == laidOut[7].data.map(\.bitPattern), "\(configuration.key)")
            #expect(after[8].data.map(\.bitPattern) == values.data.map(\.bitPattern), "\(configuration.key)")
            #expect(after[7].data != arguments[7].data, "the K cache was not written")
        }
        if text.hasSuffix("lnc=2") { #expect(cores == [1, 2]) }
    }

    /// `configuration` with both projections' weights stationary (``LinearTemplate``'s
    /// `w_operand`), each on one core, the output projection's K in `outputOrder` (`k_order`).
    func stationaryProjections(
        _ configuration: Configuration, _ problem: Problem, outputOrder: String = "interleaved"
    ) throws -> Configuration {
        let heads = try #require(problem["heads"]?.intValue)
        let headDim = try #require(problem["d"]?.intValue)
        let outputBlocks = (heads * headDim + 127) / 128
        let settings: [String: ParameterValue] = [
            "qkv_w_operand": .choice("stationary"), "qkv_tile_k": .int(128), "qkv_tile_n": .int(128),
            "qkv_block_n": .int(1), "qkv_loop_order": .choice("mnk"), "qkv_x_bufs": .int(2),
            "qkv_split": .choice("none"), "o_w_operand": .choice("stationary"), "o_tile_k": .int(128),
            "o_block_k": .int(outputBlocks == 1 ? 1 : 2), "o_tile_n": .int(128), "o_block_n": .int(1),
            "o_loop_order": .choice("mnk"), "o_x_bufs": .int(2), "o_x_layout": .choice("tensor_transpose"),
            "o_split": .choice("none"), "o_weights": .choice("blocked"), "o_k_order": .choice(outputOrder),
        ]
        var result = configuration
        for (name, value) in settings {
            let index = try #require(result.names.firstIndex(of: name), "\(name)")
            result.values[index] = value
        }
        let reason = block.restriction(result, for: problem)
        #expect(reason == nil, "\(result.key): \(reason ?? "")")
        return result
    }

    /// A split projection's columns and split attention's heads are read whole by the next stage:
    /// the chained kernel puts a barrier before it; without one a core reads what the other has
    /// not written yet, and the run fails or gives a wrong answer.
    @Test func splitStagesAreFollowedByABarrier() throws {
        let problem = try block.parseProblem("H=128,S=130,heads=4,kv_heads=2,d=32,lnc=2")
        let configuration = try #require(
            validConfigurations(SearchSpace(block), problem, limit: 200, seed: 4).first {
                $0["qkv_split"] == .choice("columns") && $0["attention_split"] == .choice("heads")
            })
        let program = block.program(for: problem, configuration: configuration)
        let barriers = program.body.filter { if case .barrier = $0 { true } else { false } }
        #expect(barriers.count == 2)
        var unsynchronised = program
        unsynchronised.body = program.body.filter { if case .barrier = $0 { false } else { true } }
        let inputs = block.inputs(for: problem, seed: 1)
        let expected = block.reference(for: problem, inputs: inputs)[0]
        let arguments = block.arguments(inputs, problem: problem, configuration: configuration)
        let synchronised = try Interpreter.run(program, inputs: arguments)[0]
        #expect(NumericCheck.relativeError(synchronised, expected) <= block.tolerance(for: problem))
        if let outputs = try? Interpreter.run(unsynchronised, inputs: arguments) {
            #expect(!(NumericCheck.relativeError(outputs[0], expected) <= block.tolerance(for: problem)))
        }
    }

    /// With resident output-projection weights, their loads can be issued at an earlier stage's
    /// start, on their own DMA stream: the kernel computes the same bits, and the loads come right
    /// after the first stage's own loads.
    @Test func hoistedWeightLoadsChangeOnlyWhenTheyRun() throws {
        let problem = try block.parseProblem("H=256,S=200,heads=4,kv_heads=1,d=64")
        var configuration = try #require(
            validConfigurations(SearchSpace(block), problem, limit: 200, seed: 6).first {
                $0["o_weights"] != .choice("blocked")
            })
        let inputs = block.inputs(for: problem, seed: 2)
        func run(_ configuration: Configuration) throws -> (KernelProgram, [Float]) {
            let program = block.program(for: problem, configuration: configuration)
            let arguments = block.arguments(inputs, problem: problem, configuration: configuration)
            return (program, try Interpreter.run(program, inputs: arguments)[0].data)
        }
        let position = try #require(configuration.names.firstIndex(of: "o_weights"))
        configuration.values[position] = .choice("resident")
        let (inPlace, expected) = try run(configuration)
        configuration.values[position] = .choice("start")
        let (hoisted, outputs) = try run(configuration)
        #expect(outputs.map(\.bitPattern) == expected.map(\.bitPattern))
        #expect(inPlace.prefetch == 0)
        #expect(hoisted.prefetch > 0)
        // The prefix: the first stage's own loads of its arguments, then the hoisted loads, on
        // the prefetch queue into buffers that live for the whole kernel.
        var filled: [Int] = []
        for statement in hoisted.body.prefix(hoisted.prefetch) {
            guard case .loop(let loop) = statement else { continue }
            for case .op(.dma(let dst, _, let queue)) in loop.body where queue == 3 { filled.append(dst.buffer) }
        }
        #expect(!filled.isEmpty && filled.allSatisfy { hoisted.buffers[$0].stage == nil })
        #expect(filled.allSatisfy { hoisted.buffers[$0].name.hasPrefix("w_") }, "\(filled)")
    }

    /// With the output projection's K in tiles of 128 (`o_k_order=tiles`), its X is the
    /// attention's `[heads, d]` rows: at the contest's shape the handoff copies them on chip and
    /// the attention output is neither stored nor reloaded (in the interleaved order it is); the
    /// numbers are checked bit for bit in ``theFusedBlockIsBitForBitTheUnfusedChain(text:)``.
    /// With the heads of the rotation on partitions, the rotated key is not stored either: the
    /// attention copies it on chip beside the queries and the cache write becomes a DMA from its
    /// tile (with `handoff=hbm` both go through `k_out`).
    @Test func tileOrderHandsTheAttentionOutputToTheProjectionOnChip() throws {
        let problem = try block.parseProblem("H=2048,S=640,heads=8,kv_heads=1,d=128,lnc=2")
        let space = SearchSpace(block)
        func intermediates(_ order: String, handoff: String = "vector") throws -> [String] {
            let configuration = try space.parse(
                "qkv_w_operand=stationary,qkv_tile_k=128,qkv_tile_n=128,qkv_split=columns,rope_layout=heads,"
                    + "attention_split=none,o_w_operand=stationary,o_tile_k=128,o_block_k=8,o_tile_n=256,o_block_n=2,"
                    + "o_x_layout=tensor_transpose,o_split=columns,o_w_bufs=1,o_weights=attention,handoff=\(handoff),"
                    + "o_k_order=\(order)")
            #expect(block.restriction(configuration, for: problem) == nil, "\(configuration.key)")
            let program = block.program(for: problem, configuration: configuration)
            #expect(ResourceCheck.violation(of: program, limits: trn2Limits) == nil, "\(configuration.key)")
            return program.buffers.filter { $0.role == .intermediate }.map(\.name)
        }
        let (interleaved, tiles) = (try intermediates("interleaved"), try intermediates("tiles"))
        #expect(interleaved.contains("attention_out"), "\(interleaved)")
        #expect(!tiles.contains("attention_out"), "\(tiles)")
        #expect(!tiles.contains("k_out"), "\(tiles)")
        #expect(try intermediates("tiles", handoff: "hbm").contains("k_out"))
    }

    /// The emitted kernel takes the ten arguments, writes the caches with DMAs, and declares the
    /// flat intermediates once.
    @Test func theChainedSourceWritesTheCacheInPlace() throws {
        let problem = try block.parseProblem("H=256,S=200,heads=4,kv_heads=1,d=64")
        let program = block.program(for: problem, configuration: block.defaultConfiguration)
        #expect(
            program.inputs.map(\.name) == [
                "x", "w_qkv", "norm_weight", "q_norm_weight", "k_norm_weight", "cos", "sin", "k_cache", "v_cache",
                "w_o",
            ])
        #expect(program.outputs.map(\.name) == ["out"])
        #expect(Set(program.updatedInputs.map { program.buffers[$0].name }) == ["k_cache", "v_cache"])
        let source = NKIEmitter.function(program)
        #expect(source.contains("nisa.dma_copy(dst=v_cache[199:200, 0:64]"), "\(source)")
        for buffer in program.buffers where buffer.role == .intermediate {
            #expect(buffer.shape.first == 1, "\(buffer.name) is not flat")
            #expect(source.contains("\(buffer.name) = nl.ndarray("), "\(buffer.name) is not declared")
        }
    }
}
