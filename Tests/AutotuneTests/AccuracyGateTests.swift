import Autotune
import CostModel
import KernelSpace
import MoEModel
import Testing

@Suite struct AccuracyGateTests {
    let deployment = Deployment(model: .qwen3MoE30BA3B, target: "trn2")

    /// The variant `nkitune model` would estimate with (no cache): default, else first valid, in
    /// the space with the stationary linear's `k_order` pinned to `interleaved` (the sample the
    /// bound below was set on; the grown space samples other first-valid variants).
    static func untuned(_ call: KernelCall) -> (template: any KernelTemplate, configuration: Configuration) {
        var space = SearchSpace(call.template)
        space.parameters = space.parameters.map { parameter in
            var copy = parameter
            if parameter.name.hasSuffix("k_order") { copy.domain = .choices(["interleaved"]) }
            return copy
        }
        let resolver = VariantResolver(
            space: space, problem: call.problem, target: .trn2, cache: nil, backend: ModelBackend())
        return (call.template, try! resolver.resolve(nil, fallBackToDefault: true).configuration)
    }

    @Test func theUntunedKernelsPassTheHarnesssRules() throws {
        let outcome = try AccuracyGate(deployment: deployment, layers: 2, steps: 2).run(Self.untuned)
        #expect(outcome.passed, "\(outcome.rules)")
        #expect(outcome.rules.map(\.name) == ["all", "top-1000", "top-50", "top-5", "divergence"])
        #expect(outcome.rules.allSatisfy { $0.worst.isFinite })
        // bf16 activations between kernels cost something, but well under the limits.
        #expect(outcome.rules[0].worst > 0 && outcome.rules[0].worst < 0.02)
    }

    @Test func aKernelBuiltWithTheWrongNumericsFails() throws {
        let outcome = try AccuracyGate(deployment: deployment, layers: 2, steps: 2).run { call in
            let chosen = Self.untuned(call)
            // An RMSNorm kernel with a wrong epsilon: correct against its own reference, wrong in the model.
            guard call.kernel == "rmsnorm" else { return chosen }
            return (RMSNormTemplate(epsilon: 0.5), chosen.configuration)
        }
        #expect(!outcome.passed)
        #expect(outcome.rules.contains { !$0.passed && $0.margin < 0 })
    }
}
