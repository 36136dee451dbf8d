import ArgumentParser
import Foundation

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

    /// Runs a command line and returns its exit status: the one place errors become output. A
    /// failure is one line on standard error (`nkitune: ...`); help goes to standard output; a
    /// failed write to standard output is a failure too.
    static func execute(_ arguments: [String]) -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            try Output.finish()
            return 0
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                Output.line(fullMessage(for: error))
                return (try? Output.finish()) == nil ? 1 : 0
            }
            try? Output.finish()
            let message = message(for: error)
            if !message.isEmpty {
                Output.error(
                    "nkitune: "
                        + message.split(separator: "\n", omittingEmptySubsequences: true)
                        .joined(separator: "; ") + "\n")
            }
            return code.rawValue
        }
    }

    static func main() {
        Foundation.exit(execute(Array(CommandLine.arguments.dropFirst())))
    }
}
