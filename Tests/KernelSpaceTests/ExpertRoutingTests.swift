import KernelSpace
import Testing

/// Issue: `expert-mlp-prefill` built its block tables from the problem's routing scenario and
/// ignored the router's actual choices, so any other routing computed the wrong thing.
@Suite struct ExpertRoutingTests {
    /// Runs the kernel on the problem's inputs with the routing replaced by `routes` (per token,
    /// its `k` experts) and `weights`, and compares it with the reference on the same routing.
    func relativeErrorOnRouting(_ routes: [[Int]], weights: [Float], key: String) throws -> Float {
        let template = try #require(catalogTemplate("expert-mlp-prefill"))
        let k = routes[0].count
        let problem = try template.parseProblem("T=\(routes.count),H=128,I=96,E=8,k=\(k)")
        var inputs = template.inputs(for: problem, seed: 11)
        inputs[3] = HostTensor(shape: [routes.count, k], data: routes.flatMap { $0.map(Float.init) })
        inputs[4] = HostTensor(shape: [routes.count, k], data: (0..<routes.count).flatMap { _ in weights })
        let configuration = try SearchSpace(template).parse("down_tile=256," + key)
        #expect(template.restriction(configuration, for: problem) == nil)
        let outputs = try Interpreter.run(
            template.program(for: problem, configuration: configuration),
            inputs: template.arguments(inputs, problem: problem, configuration: configuration))
        return relativeError(outputs[0], template.reference(for: problem, inputs: inputs)[0])
    }

    @Test(arguments: ["block=32", "block=32,gate_up=separate,bufs=1"])
    func aRoutingUnlikeEitherScenarioIsComputed(key: String) throws {
        // Most tokens to experts 7 and 2, every fifth to 0 and 5: neither balanced nor skewed.
        let routes = (0..<40).map { $0 % 5 == 0 ? [0, 5] : [7, 2] }
        #expect(try relativeErrorOnRouting(routes, weights: [0.7, 0.3], key: key) < 2e-2)
    }

    @Test func theWorstCaseRoutingFitsTheCompiledBlocks() throws {
        // 33 tokens to experts 0 and 1 (two blocks of 32 each), the other 7 spread over experts 2-7
        // (six partial blocks): 10 blocks, the bound for T=40, k=2, E=8 at 32 rows a block.
        let spread = [[2, 3], [4, 5], [6, 7], [2, 3], [4, 5], [6, 7], [2, 7]]
        let routes = Array(repeating: [0, 1], count: 33) + spread
        #expect(try relativeErrorOnRouting(routes, weights: [0.5, 0.5], key: "block=32") < 2e-2)
    }
}
