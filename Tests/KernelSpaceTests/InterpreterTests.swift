import KernelSpace
import Testing

@Suite struct InterpreterTests {
    let template = LinearTemplate()

    @Test(arguments: [
        "M=40,K=72,N=200", "M=160,K=160,N=300", "M=64,K=256,N=512,act=silu", "M=100,K=130,N=129,dtype=fp32",
    ])
    func sampledConfigurationsMatchReference(problemText: String) throws {
        let problem = try template.parseProblem(problemText)
        let space = SearchSpace(template)
        let configurations = validConfigurations(space, problem, limit: 2000, seed: 7)
        #expect(configurations.count >= 100)
        let tolerance: Float = problem["dtype"] == .choice("fp32") ? 1e-4 : 2e-2
        var failures: [String] = []
        let inputs = template.inputs(for: problem, seed: 3)
        let want = template.reference(for: problem, inputs: inputs)[0]
        for configuration in configurations {
            let program = template.program(for: problem, configuration: configuration)
            do {
                let got = try Interpreter.run(
                    program, inputs: template.arguments(inputs, problem: problem, configuration: configuration))[0]
                let error = relativeError(got, want)
                if error > tolerance { failures.append("\(configuration.key): error \(error)") }
            } catch {
                failures.append("\(configuration.key): \(error)")
            }
        }
        #expect(failures.count == 0, "\(failures.count) of \(configurations.count) wrong, first: \(failures.prefix(3))")
    }

    @Test func wrongProgramIsCaught() throws {
        let problem = try template.parseProblem("M=40,K=72,N=200")
        let configuration = template.defaultConfiguration
        var program = template.program(for: problem, configuration: configuration)
        // Drop the last top-level statement's instructions: the output is never written.
        program.body = []
        let inputs = template.inputs(for: problem, seed: 1)
        let got = try Interpreter.run(
            program, inputs: template.arguments(inputs, problem: problem, configuration: configuration))[0]
        let want = template.reference(for: problem, inputs: inputs)[0]
        #expect(relativeError(got, want) == .infinity)
    }

    @Test func bf16RoundsToNearestEven() {
        #expect(DType.roundToBF16(1.0) == 1.0)
        #expect(DType.roundToBF16(1.00390625) == 1.0)  // halfway, ties to even
        #expect(DType.roundToBF16(1.01171875) == 1.015625)  // halfway, ties to even (up)
        #expect(DType.roundToBF16(3.14159) == 3.140625)
    }
}
