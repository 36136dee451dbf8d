import Autotune
import CostModel
import Foundation
import KernelSpace
import MoEModel
import Testing

@Suite struct ModelKernelsTests {
    /// Every call of the inventory is a problem its template accepts, and has a variant that fits,
    /// in both phases on every target.
    @Test(arguments: Target.all.map(\.name))
    func everyInventoryCallIsAcceptedByItsTemplate(target name: String) throws {
        let target = try #require(Target.named(name))
        let deployment = Deployment(model: .qwen3MoE30BA3B, target: name)
        for phase in Phase.allCases {
            for call in deployment.inventory(phase) {
                #expect(try call.template.parseProblem(call.problem.key) == call.problem, "\(call.role)")
                let resolver = VariantResolver(
                    space: SearchSpace(call.template), problem: call.problem, target: target, cache: nil,
                    backend: ModelBackend(slots: 1))
                #expect(throws: Never.self, "\(call.role) \(call.problem.key) on \(name)") {
                    _ = try resolver.resolve(nil, fallBackToDefault: true)
                }
            }
        }
    }

    /// A config.json with other numbers gets kernels built with those numbers: the programs carry
    /// them, the references use them, and the two still agree.
    @Test func aModelsNumbersReachItsKernels() throws {
        var other = ModelConfig.qwen3MoE30BA3B
        other.rmsNormEpsilon = 1e-2
        other.ropeTheta = 10_000
        other.normaliseTopKProbabilities = false
        let problems = [
            "rmsnorm": "T=40,H=96", "qk-norm-rope": "T=8,q_heads=2,kv_heads=1,d=64,pos=30",
            "router": "T=40,H=200,E=64", "qkv": "M=40,K=200,N=160,norm=1",
        ]
        for (id, text) in problems.sorted(by: { $0.key < $1.key }) {
            let qwen = try #require(ModelConfig.qwen3MoE30BA3B.kernel(id))
            let changed = try #require(other.kernel(id))
            let problem = try changed.parseProblem(text)
            let configuration = try #require(
                Strategy.exhaustive.candidates(in: SearchSpace(changed), for: problem, budget: 1, seed: 0).first)
            let check = NumericCheck.run(changed, problem: problem, configuration: configuration)
            #expect(check.passed, "\(id): \(check.reason ?? "")")
            let inputs = changed.inputs(for: problem, seed: 3)
            #expect(
                changed.reference(for: problem, inputs: inputs) != qwen.reference(for: problem, inputs: inputs),
                "\(id): the model's numbers did not change the reference")
            #expect(
                changed.program(for: problem, configuration: configuration).digest
                    != qwen.program(for: problem, configuration: configuration).digest,
                "\(id): the model's numbers did not change the program")
        }
        let router = try #require(other.kernel("router"))
        let problem = try router.parseProblem("T=4,H=64,E=16,k=4")
        let weights = router.reference(for: problem, inputs: router.inputs(for: problem, seed: 1))[0]
        let sum = weights.data.prefix(4).reduce(0, +)
        #expect(sum < 0.999, "without norm_topk_prob the top-k weights are not renormalised (sum \(sum))")
    }
}
