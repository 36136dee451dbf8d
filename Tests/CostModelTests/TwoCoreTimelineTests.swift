import CostModel
import KernelSpace
import Testing

/// The timeline of kernels on the two cores of a logical core.
@Suite struct TwoCoreTimelineTests {
    let template = LinearTemplate()

    func program(_ problem: String, split: String) throws -> KernelProgram {
        let key =
            "tile_m=32,tile_k=128,tile_n=512,block_m=1,block_k=4,block_n=2,loop_order=mnk,x_bufs=2,w_bufs=2,"
            + "acc_dtype=fp32,evict_engine=vector,x_layout=tensor_transpose,split=\(split)"
        let configuration = try SearchSpace(template).parse(key)
        let parsed = try template.parseProblem(problem)
        #expect(template.restriction(configuration, for: parsed) == nil)
        return template.program(for: parsed, configuration: configuration)
    }

    /// A decode projection streams its weights: two cores each streaming half come close to halving it.
    @Test func splittingAWeightStreamOverTwoCoresNearlyHalvesIt() throws {
        let one = Timeline.simulate(try program("M=1,K=2048,N=1280,lnc=2", split: "none"), on: .trn2)
        let two = Timeline.simulate(try program("M=1,K=2048,N=1280,lnc=2", split: "columns"), on: .trn2)
        #expect(two.dmaBytes == one.dmaBytes, "the cores move the same bytes between them")
        let speedup = one.deviceTime / two.deviceTime
        #expect(speedup > 1.5 && speedup < 2.05, "speed-up \(speedup)")
    }

    /// With both cores streaming, each gets at most half of the HBM stack they share.
    @Test func bothCoresShareOneHBMStack() throws {
        let split = try program("M=1,K=2048,N=1280,lnc=2", split: "columns")
        var unshared = Target.trn2
        unshared.sharedHBMBytesPerNs = 100_000
        let capped = Timeline.simulate(split, on: .trn2).deviceTime
        let free = Timeline.simulate(split, on: unshared).deviceTime
        #expect(capped > free * 1.005, "capped \(capped) ns, unshared \(free) ns")
    }

    /// Every core waits for the slowest at a barrier, then the barrier's latency.
    @Test func aBarrierHoldsBothCoresForItsLatency() {
        let program = KernelProgram.barrierHandoff()
        let quick = Timeline.simulate(program, on: Target.trn2.applying([.coreBarrierLatency: 1000]))
        let slow = Timeline.simulate(program, on: Target.trn2.applying([.coreBarrierLatency: 6000]))
        #expect(abs((slow.deviceTime - quick.deviceTime) - 5000) < 1)
        #expect(quick.dmaBytes == 4 * 128 * 512 * 2 * 2)
    }
}
