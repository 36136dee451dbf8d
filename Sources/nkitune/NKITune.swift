import ArgumentParser

/// The `nkitune` command: tunes NKI kernels for Mixture-of-Experts inference on Trainium.
@main
struct NKITune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nkitune",
        abstract: "Tune NKI kernels for Qwen3-MoE inference on AWS Trainium.",
        discussion: """
            Every kernel is a parameterised template. `tune` instantiates variants, rejects those that \
            break hardware limits, times the rest in parallel on a backend (default: the built-in \
            NeuronCore performance model), checks the fastest on the CPU interpreter, and keeps every \
            timing in a SQLite cache so nothing is measured twice.
            """,
        subcommands: [
            KernelsCommand.self, TuneCommand.self, BestCommand.self, EmitCommand.self, ExplainCommand.self,
            ModelCommand.self,
        ]
    )
}
