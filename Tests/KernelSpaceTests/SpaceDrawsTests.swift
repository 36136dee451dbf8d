import KernelSpace
import Testing

/// Random draws of a space: uniform for most templates, stage by stage for fused blocks.
@Suite struct SpaceDrawsTests {
    let block = AttentionBlockDecodeTemplate(epsilon: 1e-6, ropeTheta: 1e6)

    func draws(_ space: SearchSpace, _ problem: Problem, seed: UInt64, count: Int) -> [Int] {
        var draws = SpaceDraws(space: space, problem: problem, seed: seed)
        return (0..<count).compactMap { _ in draws.next() }
    }

    /// Where most uniform draws of the block are refused, every stage-by-stage draw is valid,
    /// distinct, and the same again from the same seed.
    @Test(arguments: ["H=256,S=200,heads=4,kv_heads=1,d=64", "H=2048,S=640,heads=8,kv_heads=1,d=128,lnc=2"])
    func blockDrawsAreValidDistinctAndReproducible(text: String) throws {
        let space = SearchSpace(block)
        let problem = try block.parseProblem(text)
        let indices = draws(space, problem, seed: 5, count: 300)
        #expect(indices.count == 300)
        #expect(Set(indices).count == 300)
        #expect(indices == draws(space, problem, seed: 5, count: 300))
        #expect(indices != draws(space, problem, seed: 6, count: 300))
        let refused = indices.compactMap { space.exclusion(space.configuration(at: $0), for: problem) }
        #expect(refused.isEmpty, "\(refused.prefix(3))")
        var uniform = IndexDraws(total: space.size, seed: 5)
        let uniformValid = (0..<300).compactMap { _ in uniform.next() }
            .filter { space.exclusion(space.configuration(at: $0), for: problem) == nil }
        #expect(uniformValid.count < 150, "\(uniformValid.count) of 300 uniform draws valid")
    }

    /// A stage with no sensible variant in the space (a head split on one core) leaves the draws
    /// uniform, so the search meets and names what refuses them.
    @Test func aStageWithNothingValidLeavesTheDrawsUniform() throws {
        var parameters = block.parameters
        let split = try #require(parameters.firstIndex { $0.name == "attention_split" })
        parameters[split].domain = .choices(["heads"])
        let space = SearchSpace(block, parameters: parameters)
        let problem = try block.parseProblem("H=256,S=200,heads=4,kv_heads=1,d=64")
        let indices = draws(space, problem, seed: 1, count: 5)
        var uniform = IndexDraws(total: space.size, seed: 1)
        #expect(indices == (0..<5).compactMap { _ in uniform.next() })
        let attention = block.stageProblems(problem)[2]
        #expect(
            indices.allSatisfy {
                block.stageRestriction(2, space.configuration(at: $0), for: problem, stageProblem: attention)?
                    .hasPrefix("attention: split=heads") == true
            })
    }

    /// Other templates are drawn exactly as ``IndexDraws`` draws them.
    @Test func otherSpacesAreDrawnUniformly() throws {
        let template = LinearTemplate()
        let space = SearchSpace(template)
        var uniform = IndexDraws(total: space.size, seed: 9)
        #expect(
            draws(space, try template.parseProblem("M=640,K=2048,N=768"), seed: 9, count: 50)
                == (0..<50).compactMap { _ in uniform.next() })
    }
}
