import CostModel
import KernelSpace
import Testing

@testable import Autotune

/// A fused block's search starts from its stages: each at its best by the performance model, and
/// each at the fastest variant the cache holds for the stage's own problem.
@Suite struct StageStartTests {
    let block = AttentionBlockDecodeTemplate(epsilon: 1e-6, ropeTheta: 1e6)

    func request(_ problem: Problem) -> TuneRequest {
        TuneRequest(space: SearchSpace(block), problem: problem, target: .trn2, strategy: .guided, budget: 4, jobs: 2)
    }

    @Test func aBlockStartsFromItsStagesCachedBest() throws {
        let problem = try block.parseProblem("H=256,S=200,heads=4,kv_heads=1,d=64")
        let driver = Driver(
            backend: ModelBackend(slots: 2), cache: try TimingCache(path: temporaryPath("cache.sqlite")))
        let untuned = try driver.starts(for: request(problem))
        #expect(untuned.count == 1)
        #expect(untuned.allSatisfy { block.restriction($0, for: problem) == nil })

        // The output projection measured once at its stage problem: that variant is its start.
        let (prefix, output) = block.stages[3]
        let stageProblem = block.stageProblems(problem)[3]
        let stageSpace = SearchSpace(output)
        let tuned = try #require(
            Strategy.random.candidates(in: stageSpace, for: stageProblem, budget: 8, seed: 3).first {
                $0 != stageSpace.defaultConfiguration
            })
        let stageRequest = TuneRequest(space: stageSpace, problem: stageProblem, target: .trn2, jobs: 2)
        #expect(try driver.measure([tuned], request: stageRequest) == 1)
        let starts = try driver.starts(for: request(problem))
        #expect(starts.count == 2)
        #expect(starts.first == untuned[0])
        let start = try #require(starts.last)
        for name in output.parameters.map({ $0.name }) where !block.sets(3, name) {
            #expect(start[prefix + name] == tuned[name], "\(prefix + name)")
        }
        #expect(start != untuned[0])
    }

    @Test func aTemplateThatIsNotABlockOrAStrategyThatIsNotGuidedHasNoStart() throws {
        let linear = LinearTemplate()
        let driver = Driver(
            backend: ModelBackend(slots: 2), cache: try TimingCache(path: temporaryPath("cache.sqlite")))
        let request = TuneRequest(
            space: SearchSpace(linear), problem: try linear.parseProblem("M=1,K=2048,N=768"), target: .trn2)
        #expect(try driver.starts(for: request).isEmpty)
        var random = self.request(try block.parseProblem("H=256,S=200,heads=4,kv_heads=1,d=64"))
        random.strategy = .random
        #expect(try driver.starts(for: random).isEmpty)
    }
}
