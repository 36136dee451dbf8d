import KernelSpace
import Testing

/// `qk-norm-rope` runs each step once for all heads of a tile (`layout=tokens`, the heads side by
/// side) or of a token (`layout=heads`, the heads on partitions); the arithmetic per head is the
/// same, so the two layouts are declared to compute the same bits.
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

    @Test func bothLayoutsRunEachStepOnceForAllHeads() throws {
        let template = try #require(catalogTemplate("qk-norm-rope"))
        func executed(_ problemText: String, _ key: String) throws -> Int {
            let problem = try template.parseProblem(problemText)
            return template.program(for: problem, configuration: try SearchSpace(template).parse(key))
                .executedInstructions
        }
        let (one, eight) = ("T=1,q_heads=1,kv_heads=1,d=128,pos=639", "T=1,q_heads=8,kv_heads=1,d=128,pos=639")
        // The heads layout: every step once for a token's heads, however many.
        let heads = "layout=heads,tile_t=32"
        #expect(try executed(eight, heads) == (try executed(one, heads)))
        // The tokens layout: only the sums of squares go head by head (one activation each).
        let tokens = "layout=tokens,tile_t=32,square=scalar"
        #expect(try executed(eight, tokens) - (try executed(one, tokens)) == 7)
    }
}
