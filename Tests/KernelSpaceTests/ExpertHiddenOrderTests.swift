import KernelSpace
import Testing

/// `hidden_order=interleaved` in the prefill experts: one DMA loads an expert's gate/up columns, and
/// the tokens' rows are transposed in the same interleaved order.
@Suite struct ExpertHiddenOrderTests {
    @Test(arguments: ["T=48,H=512,I=96,E=8,k=2", "T=40,H=384,I=160,E=6,k=3,routing=skewed,lnc=2"])
    func interleavedHiddenComputesTheExperts(problemText: String) throws {
        let template = ExpertMLPPrefillTemplate()
        let problem = try template.parseProblem(problemText)
        let inputs = template.inputs(for: problem, seed: 9)
        let reference = template.reference(for: problem, inputs: inputs)[0]
        let split = problemText.contains("lnc=2") ? ",split=blocks" : ""
        var gateUpLoads: [String: Int] = [:]
        for order in ["tiles", "interleaved"] {
            let configuration = try SearchSpace(template).parse("block=32,down_tile=256,hidden_order=\(order)" + split)
            #expect(template.restriction(configuration, for: problem) == nil)
            let program = template.program(for: problem, configuration: configuration)
            let output = try Interpreter.run(
                program, inputs: template.arguments(inputs, problem: problem, configuration: configuration))[0]
            #expect(relativeError(output, reference) < 2e-2, "\(order)")
            var loads = 0
            // DMAs a block runs: each times the trips of the loops inside the block's guard.
            program.forEachInstruction { instruction, loops in
                guard case .dma(_, let src, _) = instruction, program.buffers[src.buffer].name == "gate_up" else {
                    return
                }
                let inner = loops.drop { $0.runtime == nil }.dropFirst()
                loads += inner.reduce(1) { $0 * $1.trips }
            }
            gateUpLoads[order] = loads
        }
        let hidden = try #require(problem["H"])
        guard case .int(let width) = hidden else { throw KernelSpaceError(.problem, "H is not a size") }
        let hiddenTiles = width / 128
        #expect(gateUpLoads == ["tiles": hiddenTiles, "interleaved": 1], "gate/up DMAs per block: \(gateUpLoads)")
    }

    @Test func interleavingNeedsMoreThanOneTileAndOneFusedLoad() throws {
        let template = ExpertMLPPrefillTemplate()
        let small = try template.parseProblem("T=40,H=128,I=96,E=8,k=2")
        let wide = try template.parseProblem("T=40,H=512,I=96,E=8,k=2")
        let interleaved = try SearchSpace(template).parse("block=32,down_tile=256,hidden_order=interleaved")
        let separate = try SearchSpace(template).parse(
            "block=32,down_tile=256,hidden_order=interleaved,gate_up=separate")
        #expect(template.restriction(interleaved, for: small)?.contains("H=128") == true)
        #expect(template.restriction(separate, for: wide)?.contains("gate_up=fused") == true)
    }
}
