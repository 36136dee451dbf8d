import KernelSpace
import Testing

/// `attention-prefill`'s whole-row softmax, resident K/V and passes of two heads: each computes
/// causal attention, a resident KV head's values load once, and a pass's heads share each load.
@Suite struct AttentionPrefillPassTests {
    let template = AttentionPrefillTemplate()

    @Test(arguments: [
        ("S=150,heads=2,kv_heads=1,d=64", "q_tile=128,k_tile=64"),
        ("S=256,heads=4,kv_heads=2,d=32,lnc=2", "q_tile=64,k_tile=64,split=heads"),
        ("S=200,heads=2,kv_heads=1,d=128", "q_tile=128,k_tile=128,k_layout=tensor_transpose"),
    ])
    func everyPassAndPlacementComputesAttention(problemText: String, key: String) throws {
        let problem = try template.parseProblem(problemText)
        let inputs = template.inputs(for: problem, seed: 21)
        let reference = template.reference(for: problem, inputs: inputs)[0]
        let passes = ["online": [""], "row": ["", ",pass_heads=2", ",pass_heads=2,transpose_engine=scalar"]]
        for (softmax, extras) in passes {
            for (kv, extra) in ["stream,bufs=2", "resident,bufs=1"].flatMap({ kv in extras.map { (kv, $0) } }) {
                let configuration = try SearchSpace(template).parse("\(key),softmax=\(softmax),kv=\(kv)\(extra)")
                #expect(template.restriction(configuration, for: problem) == nil, "\(configuration.key)")
                let output = try Interpreter.run(
                    template.program(for: problem, configuration: configuration),
                    inputs: template.arguments(inputs, problem: problem, configuration: configuration))[0]
                let error = Double(relativeError(output, reference))
                #expect(error <= template.tolerance(for: problem), "\(configuration.key): \(error)")
            }
        }
    }

    /// Loads of `v` the program runs: each DMA reading it, times the trips of the loops around it.
    func valueLoads(_ key: String, _ problemText: String) throws -> Int {
        let problem = try template.parseProblem(problemText)
        let configuration = try SearchSpace(template).parse(key)
        #expect(template.restriction(configuration, for: problem) == nil)
        let program = template.program(for: problem, configuration: configuration)
        var loads = 0
        program.forEachInstruction { instruction, loops in
            guard case .dma(_, let src, _) = instruction, program.buffers[src.buffer].name == "v" else { return }
            loads += loops.reduce(1) { $0 * $1.trips }
        }
        return loads
    }

    @Test func aResidentKVHeadLoadsItsValuesOnce() throws {
        let problem = "S=512,heads=4,kv_heads=2,d=64"
        // Two KV heads of four 128-key tiles: eight loads; streaming reloads them per query head and tile.
        #expect(try valueLoads("kv=resident,bufs=1,softmax=row", problem) == 8)
        #expect(try valueLoads("kv=stream,softmax=row", problem) == 2 * 2 * 4 * 4)
        // A pass of two query heads loads each value tile once for both.
        #expect(try valueLoads("kv=stream,softmax=row,pass_heads=2", problem) == 2 * 4 * 4)
    }

    @Test func redundantVariantsAreRestricted() throws {
        let problem = try template.parseProblem("S=640,heads=8,kv_heads=1,d=128")
        let space = SearchSpace(template)
        let rotated = try space.parse("kv=resident,bufs=2")
        let online = try space.parse("softmax=online,pass_heads=2")
        let moved = try space.parse("softmax=online,transpose_engine=scalar")
        #expect(template.restriction(online, for: problem)?.contains("softmax=row") == true)
        #expect(template.restriction(moved, for: problem)?.contains("softmax=row") == true)
        #expect(template.restriction(rotated, for: problem)?.contains("bufs=2") == true)
        let long = try template.parseProblem("S=32768,heads=8,kv_heads=1,d=128")
        #expect(template.restriction(try space.parse("softmax=row"), for: long)?.contains("S=32768") == true)
    }
}
