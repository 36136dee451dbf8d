import ArgumentParser
import Autotune
import CostModel
import Foundation
import KernelSpace
import MoEModel

/// Options that name a kernel problem on a target.
struct ProblemOptions: ParsableArguments {
    @Argument(help: "Kernel template (see `nkitune kernels`).")
    var kernel: KernelName

    @Option(help: "Problem, as NAME=VALUE pairs, e.g. M=640,K=2048,N=768 (linear also takes act=silu, dtype=fp32).")
    var problem: String

    @Option(help: "Target chip.")
    var target: TargetName = .trn2

    /// The template, problem and target, or a one-line error naming the bad value.
    func resolve() throws -> (template: any KernelTemplate, problem: Problem, target: Target) {
        let template = kernel.template
        let problem: Problem
        do {
            problem = try template.parseProblem(self.problem)
        } catch {
            throw CLIError("\(error.message) (kernel \(template.id))")
        }
        return (template, problem, target.target)
    }
}

/// Where the editable search spaces live.
struct SpaceOptions: ParsableArguments {
    @Option(
        help: """
            Directory of <kernel>.yaml search-space files (default: ./spaces when it exists); a missing \
            file means the built-in space.
            """)
    var spaces: String?

    func validate() throws {
        guard let spaces else { return }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: spaces, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--spaces directory '\(spaces)' does not exist")
        }
    }

    func space(for template: any KernelTemplate) throws -> SearchSpace {
        try SpaceFile.space(for: template, in: spaces ?? "spaces")
    }

    /// The spaces of a model's templates, by template id.
    func spaces(for model: ModelConfig) throws -> [String: SearchSpace] {
        var spaces: [String: SearchSpace] = [:]
        for template in model.kernels { spaces[template.id] = try space(for: template) }
        return spaces
    }
}

/// Options that locate the timing cache and the backend.
struct CacheOptions: ParsableArguments {
    @Option(help: "Timing database (created by commands that measure).")
    var cache: String = "cache/nkitune.sqlite"

    @Option(
        help: """
            Backend that times variants (model: the NeuronCore performance model; neuron: Trainium's \
            NeuronCores through the Neuron SDK, on a Trainium host).
            """)
    var backend: BackendName = .model

    @Option(
        help: """
            Calibrated target (stored by `nkitune calibrate`) the model times with and `guided` ranks \
            with; its timings are kept apart from the documented model's.
            """)
    var calibration: String?

    @Option(help: "Seconds to wait for another process's lock on the cache before giving up.")
    var lockTimeout: Double = 30

    func validate() throws {
        guard lockTimeout >= 0 && lockTimeout <= 86_400 else {
            throw ValidationError("--lock-timeout \(lockTimeout) must be between 0 and 86400 seconds")
        }
        if let calibration, !CalibrateCommand.isValidName(calibration) {
            throw ValidationError(
                "--calibration '\(calibration)' is not a calibration name (letters, digits, '.', '_', '-')")
        }
    }

    /// Opens the cache for measuring, creating it if missing.
    func openCache() throws -> TimingCache {
        try open(.readWrite)
    }

    /// Opens the cache for reading only, or nil when there is none: nothing is created or written.
    func openCacheForReading() throws -> TimingCache? {
        FileManager.default.fileExists(atPath: cache) ? try open(.readOnly) : nil
    }

    private func open(_ mode: TimingCache.Mode) throws -> TimingCache {
        try TimingCache(path: cache, mode: mode, lockTimeout: lockTimeout) { Output.error($0 + "\n") }
    }

    /// The backend, carrying the `--calibration` read from `cache` (which must hold it, for `target`).
    /// With `neuron` arguments the neuron backend is started (a command that measures); without,
    /// its timings are read as the cache recorded them.
    func makeBackend(
        jobs: Int, cache: TimingCache?, target: Target, neuron: NeuronArguments? = nil, lnc: Int = 1,
        exactReference: String? = nil
    ) throws -> any Backend {
        var stored: StoredCalibration?
        if let calibration {
            guard let cache else { throw CLIError("--calibration \(calibration): no cache at \(self.cache)") }
            stored = try cache.calibration(named: calibration, for: target.name)
        }
        switch backend {
        case .model: return ModelBackend(slots: jobs, calibration: stored)
        case .neuron:
            if calibration != nil { throw CLIError("--calibration applies to the model backend, not to neuron") }
            if let neuron { return try NeuronBackend.start(neuron.options(lnc: lnc, exactReference: exactReference)) }
            guard let toolchain = try cache?.latestToolchain(backend: "neuron") else {
                throw CLIError(
                    "no neuron measurements in \(self.cache); measure with --backend neuron on a Trainium host")
            }
            return RecordedBackend(name: "neuron", toolchain: toolchain)
        }
    }
}

/// `1234.5 ns` as `1.23 us`, `7.1 ms` and so on.
func formatLatency(_ nanoseconds: Double?) -> String {
    guard let nanoseconds else { return "-" }
    if nanoseconds >= 1e6 { return String(format: "%.3f ms", nanoseconds / 1e6) }
    return String(format: "%.2f us", nanoseconds / 1e3)
}
