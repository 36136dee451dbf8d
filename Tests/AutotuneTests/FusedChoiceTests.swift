import CostModel
import MoEModel
import Testing

@testable import Autotune

/// The model estimate puts a fused block in a step only where it is faster than the calls it
/// replaces, and shows both sides either way.
@Suite struct FusedChoiceTests {
    let deployment = Deployment(model: .qwen3MoE30BA3B, target: "trn2")
    let estimator = PhaseEstimator(target: .trn2, spaces: [:], cache: nil, backend: ModelBackend())

    /// Every unfused call 10 us in the graph; the attention block 30 us (its five calls take 50);
    /// the MoE block 40 us (its three calls take 30).
    func estimate(fusing: Bool) -> ModelEstimate {
        let launch = Target.trn2.launchOverhead
        return estimator.model(deployment, fusing: fusing) { call in
            let inGraph: Double =
                switch call.kernel {
                case "attention-block-decode": 30_000
                case "moe-block-decode": 40_000
                default: 10_000
                }
            return CallEstimate(call: call, latency: launch + inGraph, source: "test")
        }
    }

    @Test func theFasterCompositionIsTakenAndBothAreShown() throws {
        let model = estimate(fusing: true)
        let choices = try #require(model.fused[.decode])
        let attention = try #require(choices.first { $0.block.call.kernel == "attention-block-decode" })
        let moe = try #require(choices.first { $0.block.call.kernel == "moe-block-decode" })
        let layers = Double(attention.block.call.count)
        #expect(attention.chosen && !moe.chosen)
        #expect(attention.fusedTotal == layers * 30_000 && attention.unfusedTotal == layers * 5 * 10_000)
        #expect(moe.fusedTotal == layers * 40_000 && moe.unfusedTotal == layers * 3 * 10_000)
        let roles = model.run.decode.kernels.map(\.call.role)
        #expect(roles.contains(attention.block.call.role) && !roles.contains(moe.block.call.role))
        #expect(attention.block.replaces.allSatisfy { !roles.contains($0) })
        #expect(moe.block.replaces.allSatisfy { roles.contains($0) })
        let unfused = estimate(fusing: false)
        #expect(unfused.fused[.decode]?.allSatisfy { !$0.chosen } == true)
        #expect(unfused.run.decode.kernelTime - model.run.decode.kernelTime == layers * 20_000)
    }
}
