import KernelSpace
import Testing

/// Issue: when H is larger than `down_tile` and not a multiple of it, the experts' last
/// `H % down_tile` hidden columns were never computed (zeros in decode, NaN in prefill).
@Suite struct ExpertRemainderTests {
    @Test(arguments: [
        ("expert-mlp-decode", "T=2,H=384,I=64,E=4,k=2", 256),
        ("expert-mlp-decode", "T=1,H=640,I=96,E=4,k=2", 512),
        ("expert-mlp-prefill", "T=24,H=384,I=64,E=4,k=2", 256),
        ("expert-mlp-prefill", "T=20,H=640,I=96,E=4,k=2,routing=skewed", 512),
    ])
    func remainderColumnsAreComputed(kernel: String, problemText: String, downTile: Int) throws {
        let template = try #require(catalogTemplate(kernel))
        let problem = try template.parseProblem(problemText)
        let space = SearchSpace(template)
        let block = kernel == "expert-mlp-prefill" ? "block=32," : ""
        for key in ["down_tile=\(downTile)", "down_tile=\(downTile),gate_up=separate,bufs=1"] {
            let configuration = try space.parse(block + key)
            #expect(template.restriction(configuration, for: problem) == nil)
            let inputs = template.inputs(for: problem, seed: 5)
            let outputs = try Interpreter.run(
                template.program(for: problem, configuration: configuration),
                inputs: template.arguments(inputs, problem: problem, configuration: configuration))
            let expected = template.reference(for: problem, inputs: inputs)
            #expect(relativeError(outputs[0], expected[0]) < 2e-2, "\(kernel) \(problemText) \(key)")
            let hidden = try #require(problem["H"]?.intValue)
            let lastColumns = (0..<outputs[0].shape[0]).flatMap { row in
                ((hidden - hidden % downTile)..<hidden).map { outputs[0].data[row * hidden + $0] }
            }
            #expect(lastColumns.contains { $0 != 0 } && !lastColumns.contains { $0.isNaN })
        }
    }
}
