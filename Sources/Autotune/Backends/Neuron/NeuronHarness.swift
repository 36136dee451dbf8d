import Foundation

/// The Python harness shipped inside nkitune, written out at run time, and the commands that run
/// it with the Neuron environment's interpreter.
struct NeuronHarness: Sendable {
    /// The interpreter.
    let python: String
    /// Where the harness script was written.
    let script: String
    /// Whether every command runs with `--dry-run` (no NKI).
    let dryRun: Bool

    /// The harness's source, as shipped.
    static var source: [UInt8] { PackageResources.nkitune_harness_py }

    /// Writes the harness into `directory` (unless an identical copy is there) and returns a
    /// runner for it.
    static func install(in directory: String, python: String, dryRun: Bool) throws(AutotuneError) -> NeuronHarness {
        let script = (directory as NSString).appendingPathComponent("nkitune_harness.py")
        let bytes = Data(source)
        if FileManager.default.contents(atPath: script) != bytes {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try bytes.write(to: URL(fileURLWithPath: script), options: .atomic)
            } catch {
                throw AutotuneError(.backend, "neuron backend: cannot write the harness to \(script): \(error)")
            }
        }
        return NeuronHarness(python: python, script: script, dryRun: dryRun)
    }

    /// What one harness command did: how the process ended, the result it wrote (if any) and
    /// the tail of its log.
    struct Run: Sendable {
        var outcome: ChildOutcome
        var result: HarnessResult?
        /// Whether a result file was written but could not be read.
        var unreadable: Bool
        var logTail: String
    }

    /// Runs `command` (`probe`, `compile`, `run`, `profile`, `health`) with `arguments`, writing its
    /// result to `out` and its output to `log`.
    func run(
        _ command: String, _ arguments: [String] = [], out: String, log: String,
        environment: [String: String] = [:], timeLimit: Duration
    ) -> Run {
        try? FileManager.default.removeItem(atPath: out)
        let outcome = ChildProcess.run(
            python, arguments: [script, command] + arguments + ["--out", out] + (dryRun ? ["--dry-run"] : []),
            environment: environment.merging(["PYTHONUNBUFFERED": "1"]) { first, _ in first }, log: log,
            timeLimit: timeLimit)
        let written = FileManager.default.contents(atPath: out)
        let result = written.flatMap { try? JSONDecoder().decode(HarnessResult.self, from: $0) }
        return Run(
            outcome: outcome, result: result, unreadable: written != nil && result == nil,
            logTail: ChildProcess.tail(of: log, lines: 8))
    }
}
