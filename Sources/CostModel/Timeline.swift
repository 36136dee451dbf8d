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
        let flat = FlatProgram(program, target: target)
        var state = SimulationState(flat, target: target)
        let environment = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(1, flat.variableCount))
        environment.initialize(repeating: 0)
        defer { environment.deallocate() }
        state.run(flat.root, environment)
        return state.report()
    }
}
