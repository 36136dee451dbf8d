import ArgumentParser
import CostModel
import KernelSpace

/// `--sdk` for the commands that write NKI source.
struct ReleaseOption: ParsableArguments {
    @Option(
        help: """
            Neuron SDK release the written kernels are for: \(NeuronArguments.releases). From 2.29 a loop \
            whose count is read on the device (the prefill experts' empty blocks) is skipped there; \
            earlier releases run all of it.
            """)
    var sdk: NKIRelease = .default

    /// A note when some of `programs` count a loop on the device and the release runs every trip
    /// instead, with what the performance model gives on `target` either way; nil otherwise.
    func note(for programs: [KernelProgram], on target: Target) -> String? {
        let counted = programs.filter(\.countsOnDevice)
        guard !sdk.hasDynamicLoops, !counted.isEmpty else { return nil }
        let times = counted.map { program in
            let skipping = Timeline.simulate(program, on: target).deviceTime
            let everyTrip = Timeline.simulate(program.runningEveryTrip, on: target).deviceTime
            return "\(program.name) \(formatLatency(everyTrip)) instead of \(formatLatency(skipping))"
        }
        return "note: Neuron SDK \(sdk.rawValue) has no dynamic loops, so every trip of a loop counted on the "
            + "device runs (performance model: \(times.joined(separator: ", "))); --sdk 2.29 or later skips them\n"
    }
}
