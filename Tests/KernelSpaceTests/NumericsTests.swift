import KernelSpace
import Testing

@Suite struct NumericsTests {
    @Test(arguments: KernelCatalog.all.map(\.id))
    func declaredNumericParametersAreTheOnlyOnesThatChangeBits(kernel: String) throws {
        let template = try #require(KernelCatalog.template(kernel))
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
        // And a declared parameter does change bits somewhere.
        guard !template.numericParameters.isEmpty else { return }
        let differing = validConfigurations(space, problem, limit: 60, seed: 8).filter {
            space.numericDifference($0, reference) != nil
        }
        let changed = differing.contains { other in
            !NumericCheck.bitExact(template, problem: problem, configuration: other, reference: reference).exact
        }
        #expect(changed, "\(kernel): no numerics parameter changed any bit")
    }
}
