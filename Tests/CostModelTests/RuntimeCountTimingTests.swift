import CostModel
import KernelSpace
import Testing

/// The performance model times a loop counted on the device at the count its problem's scenario
/// gives: the prefill experts' empty blocks cost nothing.
@Suite struct RuntimeCountTimingTests {
    @Test func emptyExpertBlocksAreNotTimed() throws {
        let template = ExpertMLPPrefillTemplate()
        let problem = try template.parseProblem("T=256,H=512,I=192,E=16,k=4,routing=balanced,lnc=2")
        let configuration = try SearchSpace(template).parse("block=64,down_tile=512,split=blocks")
        let program = template.program(for: problem, configuration: configuration)
        let everyTrip = program.runningEveryTrip
        let skipping = Timeline.simulate(program, on: .trn2)
        let all = Timeline.simulate(everyTrip, on: .trn2)
        // Balanced: 256 * 4 / 16 = 64 rows an expert, one block each of the bound's
        // (1024 + 16 * 63) / 64 = 31 (32 over two cores); the 16 empty ones move each an expert's weights.
        // Each also gathers and scatter-adds its 64 rows.
        let expertBytes = (512 * 2 * 192 + 192 * 512) * 2
        let saved = all.dmaBytes - skipping.dmaBytes
        #expect(saved >= 16 * expertBytes && saved < 16 * expertBytes * 3 / 2, "\(saved) bytes")
        #expect(skipping.deviceTime < all.deviceTime * 0.8, "\(skipping.deviceTime) vs \(all.deviceTime)")
    }
}
