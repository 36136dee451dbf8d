import KernelSpace

/// The engine timeline of a NeuronCore: every engine runs its instructions in program order; an
/// instruction starts when its engine is free and its inputs are ready; a buffer write waits for
/// the readers of the copy it overwrites, so buffers with several copies let loads run ahead of
/// compute; DMAs run on in-order queues that share the core's DMA bandwidth.
///
/// ```swift
/// let report = Timeline.simulate(program, on: .trn2)
/// print(report.latency)
/// ```
public enum Timeline {
    /// Simulates a program on a target.
    public static func simulate(_ program: KernelProgram, on target: Target) -> CostReport {
        run(program, on: target, recording: false).report
    }

    /// Simulates a program and returns every instruction's place on the timeline as well (of core 0,
    /// for a program that runs on several cores).
    public static func trace(_ program: KernelProgram, on target: Target) -> (report: CostReport, events: [TraceEvent])
    {
        let (report, events) = run(program, on: target, recording: true)
        return (report, events ?? [])
    }

    private static func run(_ program: KernelProgram, on target: Target, recording: Bool) -> (
        report: CostReport, events: [TraceEvent]?
    ) {
        let flat = FlatProgram(program, target: target)
        let environment = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(1, flat.variableCount))
        environment.initialize(repeating: 0)
        defer { environment.deallocate() }
        guard flat.cores > 1, let coreVariable = flat.coreVariable else {
            var state = SimulationState(flat, target: target, recording: recording)
            state.run(flat.root, environment)
            return (state.report(), state.events)
        }
        // One timeline per core. A barrier runs on each core's GpSimd queue once that core's writes
        // to the barrier's tensor are done; all leave it together, and only GpSimd's later
        // instructions and the later accesses of that tensor wait for it.
        var states = (0..<flat.cores).map { core in
            SimulationState(flat, target: target, recording: recording && core == 0)
        }
        for (phase, barrier) in flat.phases {
            for core in states.indices {
                environment.update(repeating: 0)
                environment[coreVariable] = core
                states[core].run(phase, environment)
            }
            guard let barrier else { break }
            let arrival = states.map { $0.barrierArrival(on: barrier) }.max() ?? 0
            for core in states.indices {
                states[core].leaveBarrier(on: barrier, at: arrival + target.coreBarrierLatency)
            }
        }
        return (CostReport(combining: states.map { $0.report() }), states[0].events)
    }
}
