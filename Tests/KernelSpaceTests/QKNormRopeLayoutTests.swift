import KernelSpace
import Testing

/// `qk-norm-rope` with `layout=heads` runs each step once for all of a token's heads; the
/// arithmetic per head is unchanged, so it is declared to compute the bits of `layout=tokens`.
@Suite struct QKNormRopeLayoutTests {
    @Test(arguments: [
        "T=1,q_heads=8,kv_heads=1,d=128,pos=639", "T=3,q_heads=8,kv_heads=2,d=64,pos=9",
        "T=2,q_heads=1,kv_heads=1,d=128,pos=0",
    ])
    func theHeadsLayoutComputesTheBitsOfTheTokensLayout(problemText: String) throws {
        let template = try #require(catalogTemplate("qk-norm-rope"))
        let problem = try template.parseProblem(problemText)
        for square in ["scalar", "vector"] {
            let heads = try SearchSpace(template).parse("layout=heads,tile_t=32,square=\(square)")
            let tokens = try SearchSpace(template).parse("layout=tokens,tile_t=32,square=\(square)")
            #expect(template.restriction(heads, for: problem) == nil)
            let check = NumericCheck.run(template, problem: problem, configuration: heads)
            #expect(check.passed, "\(problemText): \(check.reason ?? "")")
            let verdict = NumericCheck.bitExact(template, problem: problem, configuration: heads, reference: tokens)
            #expect(verdict.exact, "\(problemText): \(verdict.reason ?? "")")
        }
    }

    @Test func theHeadsLayoutIsOnePassPerToken() throws {
        let template = try #require(catalogTemplate("qk-norm-rope"))
        let problem = try template.parseProblem("T=1,q_heads=8,kv_heads=1,d=128,pos=639")
        func executed(_ key: String) throws -> Int {
            template.program(for: problem, configuration: try SearchSpace(template).parse(key)).executedInstructions
        }
        // Every step once for the nine heads, against once per head.
        #expect(try executed("layout=heads,tile_t=32") * 4 < (try executed("layout=tokens,tile_t=32")))
    }
}
