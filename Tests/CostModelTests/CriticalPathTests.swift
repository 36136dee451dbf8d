import CostModel
import KernelSpace
import Testing

/// The chain of instructions behind a kernel's end, traced back through what each waited for.
@Suite struct CriticalPathTests {
    /// x is loaded, copied on VectorE and stored; z is loaded and copied on ScalarE beside it, and
    /// nothing waits for that copy. A second VectorE copy of x's tile waits for VectorE, not data.
    func program(secondCopy: Bool = false) -> KernelProgram {
        var b = ProgramBuilder()
        let x = b.buffer("x", .hbm, [128, 2048], .bf16, role: .input(0))
        let z = b.buffer("z", .hbm, [128, 64], .bf16, role: .input(1))
        let y = b.buffer("y", .hbm, [128, 2048], .bf16, role: .output)
        let (xTile, copied, zTile, zCopy) = (
            b.buffer("x_tile", .sbuf, [128, 2048], .bf16), b.buffer("copied", .sbuf, [128, 2048], .bf16),
            b.buffer("z_tile", .sbuf, [128, 64], .bf16), b.buffer("z_copy", .sbuf, [128, 64], .bf16)
        )
        let (rows, wide, narrow) = (AffineRange.full(128), AffineRange.full(2048), AffineRange.full(64))
        var body: [Stmt] = [
            .op(.dma(dst: Access(xTile, [rows, wide]), src: Access(x, [rows, wide]), queue: 0)),
            .op(.dma(dst: Access(zTile, [rows, narrow]), src: Access(z, [rows, narrow]), queue: 1)),
            .op(.copy(dst: Access(zCopy, [rows, narrow]), src: Access(zTile, [rows, narrow]), engine: .scalar)),
        ]
        if secondCopy {
            let other = b.buffer("other", .sbuf, [128, 2048], .bf16)
            body.append(
                .op(.copy(dst: Access(other, [rows, wide]), src: Access(xTile, [rows, wide]), engine: .vector)))
        }
        body += [
            .op(.copy(dst: Access(copied, [rows, wide]), src: Access(xTile, [rows, wide]), engine: .vector)),
            .op(.dma(dst: Access(y, [rows, wide]), src: Access(copied, [rows, wide]), queue: 0)),
        ]
        return b.program(name: "path_kernel", body: body)
    }

    @Test func thePathRunsFromTheLoadToTheStoreAndAddsUpToTheKernelsTime() {
        let (report, events) = Timeline.trace(program(), on: .trn2)
        let path = CriticalPath(events)
        #expect(path.steps.map(\.event.writes) == ["x_tile", "copied", "y"])
        #expect(path.steps.map(\.event.kind) == ["dma", "elementwise", "dma"])
        #expect(abs(path.length - report.deviceTime) < 1e-9)
        #expect(abs(path.totals.reduce(0) { $0 + $1.time } - path.length) < 1e-6)
        // Each DMA starts a start-up latency after what it waits for.
        let latency = Target.trn2.dmaFixedLatency
        #expect(path.steps[0].wait >= latency && path.steps[2].wait >= latency)
        #expect(path.steps[1].wait == 0)
        let startUp = path.totals.first { $0.activity == "DMA start-up and queueing" }?.time ?? 0
        #expect(startUp >= 2 * latency)
    }

    @Test func anInstructionHeldBackByItsEngineIsPrecededByWhatRanThere() {
        let (_, events) = Timeline.trace(program(secondCopy: true), on: .trn2)
        let path = CriticalPath(events)
        #expect(path.steps.map(\.event.writes) == ["x_tile", "other", "copied", "y"])
        let copied = path.steps[2].event
        guard case .lane(let previous) = copied.waited else {
            Issue.record("the second copy waited for \(copied.waited), not VectorE")
            return
        }
        #expect(events[previous].writes == "other")
        #expect(path.segments.map(\.writes) == ["x_tile", "other", "copied", "y"])
    }

    /// Consecutive steps on one lane writing one buffer read as one stretch, from the end of the
    /// step before them.
    @Test func segmentsJoinConsecutiveStepsOfOneKind() {
        let (_, events) = Timeline.trace(program(secondCopy: true), on: .trn2)
        let segments = CriticalPath(events).segments
        #expect(segments.count == 4)
        #expect(segments.allSatisfy { $0.count == 1 })
        for (before, after) in zip(segments, segments.dropFirst()) { #expect(abs(after.start - before.end) < 1e-9) }
    }

    @Test func aBarrierIsOnThePathOfAHandoffBetweenCores() {
        let program = KernelProgram.barrierHandoff()
        let target = Target.trn2.applying([.coreBarrierLatency: 3000])
        let (report, events) = Timeline.trace(program, on: target)
        let path = CriticalPath(events)
        #expect(path.steps.map(\.event.kind) == ["dma", "dma", "barrier", "dma", "dma"])
        #expect(path.steps[2].event.writes == "scratch")
        let barrier = path.totals.first { $0.activity == "barrier" }?.time ?? 0
        #expect(barrier >= 3000 && barrier < 3000 + 1e-6, "barrier \(barrier) ns")
        #expect(abs(path.length - report.deviceTime) < 1e-9)
    }

    /// Recording the trace leaves the timings alone: a fused block on two cores simulates to the
    /// same report either way.
    @Test func tracingChangesNoTiming() throws {
        let template = AttentionBlockDecodeTemplate(epsilon: 1e-6, ropeTheta: 1e6)
        let problem = try template.parseProblem(template.demoProblem)
        let configuration = try SearchSpace(template).parse("qkv_split=columns")
        #expect(template.restriction(configuration, for: problem) == nil)
        let program = template.program(for: problem, configuration: configuration)
        let traced = Timeline.trace(program, on: .trn2)
        #expect(traced.report == Timeline.simulate(program, on: .trn2))
        let path = CriticalPath(traced.events)
        #expect(abs(path.length - traced.report.deviceTime) < 1e-6)
        #expect(path.steps.contains { $0.event.kind == "barrier" })
    }
}
