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
            ModelCommand.self, TuneModelCommand.self, ExportCommand.self, CheckModelCommand.self, CacheCommand.self,
            CalibrateCommand.self, WorkerCommand.self,
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
            let message = oneLine(message(for: error))
            if !message.isEmpty { Output.error("nkitune: \(message)\n") }
            return code.rawValue
        }
    }

    /// A message on one line: a list that ArgumentParser put one item a line (`  - linear`) is
    /// joined with commas after its first line.
    static func oneLine(_ message: String) -> String {
        let lines = message.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = lines.first else { return "" }
        let items = lines.dropFirst().map { $0.hasPrefix("- ") ? String($0.dropFirst(2)) : $0 }
        return items.isEmpty ? first : first + " " + items.joined(separator: ", ")
    }

    static func main() {
        Foundation.exit(execute(Array(CommandLine.arguments.dropFirst())))
    }
}
