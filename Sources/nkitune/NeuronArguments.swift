import ArgumentParser
import Autotune
import Foundation
import KernelSpace

/// How `--backend neuron` compiles and times on a Trainium host.
struct NeuronArguments: ParsableArguments {
    @Option(
        help: """
            The Neuron SDK environment's Python interpreter, which runs nkitune's harness \
            (default: $NKITUNE_PYTHON, else python3).
            """)
    var python: String?

    @Option(help: "Neuron SDK release the emitted kernels are written for: \(Self.releases).")
    var sdk: NKIRelease = .default

    @Option(help: "NeuronCores to measure on, e.g. 0-7 or 0,2,4 (default: every core neuron-ls reports).")
    var cores: CoreList?

    @Option(help: "Compilations at once (default: CPU count minus two).")
    var compileJobs: Int = max(1, ProcessInfo.processInfo.activeProcessorCount - 2)

    @Option(help: "Untimed runs before the timed ones.")
    var warmup: Int = 10

    @Option(help: "Timed runs of each variant.")
    var iterations: Int = 100

    @Option(help: "Time limit of one compilation, e.g. 10m.")
    var compileTimeout: TimeBudget = TimeBudget(argument: "10m")!

    @Option(help: "Time limit of one measurement (warm-up, timed runs and check), e.g. 5m.")
    var measureTimeout: TimeBudget = TimeBudget(argument: "5m")!

    @Option(help: "Where kernels, inputs, reference outputs, NEFFs and logs go.")
    var neuronWork: String = "cache/neuron"

    @Option(help: "The Neuron compiler's cache directory (may be shared between hosts).")
    var neuronCache: String?

    @Flag(help: "Profile each variant that is the fastest so far (engine active times, DMA bytes).")
    var profileBest = false

    static var releases: String { NKIRelease.allCases.map(\.rawValue).joined(separator: ", ") }

    func validate() throws {
        guard (1...1024).contains(compileJobs) else {
            throw ValidationError("--compile-jobs \(compileJobs) must be between 1 and 1024")
        }
        guard (0...100_000).contains(warmup) else { throw ValidationError("--warmup \(warmup) must be 0 to 100000") }
        guard (1...100_000).contains(iterations) else {
            throw ValidationError("--iterations \(iterations) must be 1 to 100000")
        }
    }

    /// These options as command-line arguments, for a fleet worker.
    var arguments: [String] {
        var arguments = [
            "--sdk", sdk.rawValue, "--compile-jobs", String(compileJobs), "--warmup",
            String(warmup), "--iterations", String(iterations), "--compile-timeout", "\(compileTimeout.seconds)s",
            "--measure-timeout", "\(measureTimeout.seconds)s", "--neuron-work", neuronWork,
        ]
        if let python { arguments += ["--python", python] }
        if let cores { arguments += ["--cores", cores.cores.map(String.init).joined(separator: ",")] }
        if let neuronCache { arguments += ["--neuron-cache", neuronCache] }
        if profileBest { arguments.append("--profile-best") }
        return arguments
    }

    /// The backend's options for kernels of a logical core of `lnc` physical cores (the problem's
    /// or the deployment's: at 2 each measurement runs on a pair); `exactReference` is the
    /// configuration whose outputs a variant must match bit for bit (`tune --exact`).
    func options(lnc: Int, exactReference: String? = nil) -> NeuronOptions {
        NeuronOptions(
            python: python ?? ProcessInfo.processInfo.environment["NKITUNE_PYTHON"] ?? "python3", release: sdk,
            cores: cores?.cores, lnc: lnc, compileJobs: compileJobs, warmup: warmup, iterations: iterations,
            compileTimeLimit: .milliseconds(Int64(compileTimeout.seconds * 1000)),
            measureTimeLimit: .milliseconds(Int64(measureTimeout.seconds * 1000)), workDirectory: neuronWork,
            compilerCache: neuronCache, exactReference: exactReference, profileBest: profileBest)
    }
}

extension NKIRelease: ExpressibleByArgument {}

/// A list of NeuronCore indices such as `0-7`, `0,2,4` or `0-3,8-11`.
struct CoreList: ExpressibleByArgument, Sendable {
    /// The cores, in the order given.
    let cores: [Int]

    init?(argument: String) {
        var cores: [Int] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let low = Int(bounds[0]), let high = Int(bounds[bounds.count - 1]),
                low >= 0, low <= high, high < 4096
            else { return nil }
            cores += Array(low...high)
        }
        guard !cores.isEmpty else { return nil }
        self.cores = cores
    }
}
