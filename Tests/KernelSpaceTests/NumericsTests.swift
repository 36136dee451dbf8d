import KernelSpace
import Testing

@Suite struct NumericsTests {
    @Test(arguments: catalog.map(\.id))
    func declaredNumericParametersAreTheOnlyOnesThatChangeBits(kernel: String) throws {
        let template = try #require(catalogTemplate(kernel))
        let space = SearchSpace(template)
        let problem = try template.parseProblem(try #require(smallProblems[kernel]?.first))
        let configurations = validConfigurations(space, problem, limit: 12, seed: 21)
        let reference = try #require(configurations.first)
        // Everything bit-exact to the reference by declaration must be so on the interpreter.
        let exactSpace = space.exact(to: reference)
        let twins = validConfigurations(exactSpace, problem, limit: 12, seed: 4)
        #expect(twins.count >= 2, "\(kernel): too few configurations share the reference's numerics")
        for twin in twins {
            let verdict = NumericCheck.bitExact(template, problem: problem, configuration: twin, reference: reference)
            #expect(verdict.exact, "\(kernel) \(twin.key): \(verdict.reason ?? "")")
        }
        // And a declared parameter does change bits on some test problem (a one-ulp fp32 difference
        // often vanishes in a bf16 output, so one problem may not show it).
        guard !template.numericParameters.isEmpty else { return }
        var changed = false
        for text in smallProblems[kernel] ?? [] where !changed {
            let problem = try template.parseProblem(text)
            let candidates = validConfigurations(space, problem, limit: 200, seed: 8)
            guard let base = candidates.first else { continue }
            changed = candidates.contains { other in
                space.numericDifference(other, base) != nil
                    && !NumericCheck.bitExact(template, problem: problem, configuration: other, reference: base).exact
            }
        }
        #expect(changed, "\(kernel): no numerics parameter changed any bit")
    }
}
