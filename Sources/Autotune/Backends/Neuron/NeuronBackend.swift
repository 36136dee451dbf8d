import CostModel
import Foundation
import KernelSpace

/// Compiles and times variants on the NeuronCores of a Trainium host, through the Python harness
/// run with the Neuron environment's interpreter.
///
/// Each variant's kernel is emitted for the chosen SDK release, compiled to a NEFF (in parallel,
/// each compilation with a time limit), then run on one measure slot (a NeuronCore pinned with
/// `NEURON_RT_VISIBLE_CORES`, two physical cores at LNC 2), timed, and its outputs compared with
/// the template's reference. Every failure comes back as a result with its class and the tail of
/// its log: `compile error`, `resource overflow`, `time-out`, `crash`, `runtime error`,
/// `wrong answer`, `harness error`. After a time-out, crash or runtime error, the slot is checked
/// before it is used again, and retired if it fails.
///
/// ```swift
/// let backend = try NeuronBackend.start(NeuronOptions(python: "/opt/aws_neuronx_venv/bin/python3"))
/// let driver = Driver(backend: backend, cache: cache)
/// ```
public struct NeuronBackend: Backend {
    /// `neuron`.
    public let name = "neuron"
    /// The SDK release written for, the harness version and the versions of the compiler, NKI and
    /// runtime packages the harness found, and the LNC: part of every cache key.
    public let toolchain: String
    /// One per NeuronCore (per pair at LNC 2).
    public var measureSlots: Int { slotCores.count }
    /// `--compile-jobs`.
    public var compileSlots: Int? { options.compileJobs }
    /// How it runs.
    public let options: NeuronOptions
    /// `NEURON_RT_VISIBLE_CORES` of each slot.
    let slotCores: [String]
    let harness: NeuronHarness
    let workspace: NeuronWorkspace
    private let state = NeuronSlotState()

    /// Writes out the harness, asks it what the environment holds (failing at once, naming what
    /// is missing, when NKI is not there) and finds the cores.
    public static func start(_ options: NeuronOptions) throws(AutotuneError) -> NeuronBackend {
        guard options.lnc == 1 || options.lnc == 2 else {
            throw AutotuneError(.backend, "neuron backend: --lnc \(options.lnc) must be 1 or 2")
        }
        let workspace = try NeuronWorkspace(root: options.workDirectory)
        let harness = try NeuronHarness.install(
            in: options.workDirectory, python: options.python, dryRun: options.dryRun)
        let probe = harness.run(
            "probe", out: workspace.path("probe.json"), log: workspace.path("probe.log"), timeLimit: .seconds(120))
        guard case .exited(let code) = probe.outcome, code == 0, let result = probe.result, result.status == "ok"
        else {
            throw AutotuneError(.backend, Self.probeFailure(probe, python: options.python))
        }
        let versions = result.versions ?? [:]
        let found = ["neuronx-cc", "nki", "nkipy", "neuronpy"].compactMap { name in
            versions[name].map { "\(name)=\($0)" }
        }
        let toolchain =
            (["neuron sdk=\(options.release.rawValue)", "harness=\(harnessVersion)"] + found + ["lnc=\(options.lnc)"]
            + (options.dryRun ? ["dry-run"] : [])).joined(separator: " ")
        let cores: [Int]
        if let listed = options.cores {
            cores = listed
        } else {
            cores = options.dryRun ? [0] : try Self.listCores(workspace)
        }
        return NeuronBackend(
            toolchain: toolchain, options: options, slotCores: try Self.slots(cores, lnc: options.lnc),
            harness: harness, workspace: workspace)
    }

    /// The version of the harness protocol this build writes.
    static let harnessVersion = 2

    private init(
        toolchain: String, options: NeuronOptions, slotCores: [String], harness: NeuronHarness,
        workspace: NeuronWorkspace
    ) {
        self.toolchain = toolchain
        self.options = options
        self.slotCores = slotCores
        self.harness = harness
        self.workspace = workspace
    }

    /// One line saying why the probe failed, naming what is missing and what to do.
    static func probeFailure(_ probe: NeuronHarness.Run, python: String) -> String {
        let hint = "point --python (or NKITUNE_PYTHON) at the Neuron SDK environment's interpreter"
        switch probe.outcome {
        case .launchFailed(let reason):
            return "neuron backend: cannot run the Python interpreter '\(python)' (\(reason)); \(hint)"
        case .timedOut:
            return "neuron backend: '\(python)' did not answer the harness's probe within 120 s"
        case .exited(3):
            let said = probe.result?.message ?? probe.logTail.split(separator: "\n").last.map(String.init) ?? ""
            return "neuron backend: \(said.isEmpty ? "NKI is not importable by \(python)" : said); \(hint)"
        default:
            let last = probe.logTail.split(separator: "\n").last.map(String.init) ?? "no output"
            return "neuron backend: the harness probe with '\(python)' \(probe.outcome.summary): \(last)"
        }
    }

    /// The `NEURON_RT_VISIBLE_CORES` value of each slot: a core at LNC 1; at LNC 2 the logical core
    /// made of physical cores 2i and 2i+1, both of which must be listed.
    static func slots(_ cores: [Int], lnc: Int) throws(AutotuneError) -> [String] {
        guard !cores.isEmpty else { throw AutotuneError(.backend, "neuron backend: no NeuronCores to measure on") }
        if let negative = cores.first(where: { $0 < 0 }) {
            throw AutotuneError(.backend, "neuron backend: core \(negative) is not a NeuronCore index")
        }
        let unique = Array(Set(cores)).sorted()
        guard lnc == 2 else { return unique.map(String.init) }
        var slots: [String] = []
        for core in unique where core % 2 == 0 {
            guard unique.contains(core + 1) else {
                throw AutotuneError(
                    .backend, "neuron backend: at LNC 2 core \(core) needs its pair \(core + 1) in --cores")
            }
            slots.append(String(core / 2))
        }
        if let odd = unique.first(where: { $0 % 2 == 1 && !unique.contains($0 - 1) }) {
            throw AutotuneError(.backend, "neuron backend: at LNC 2 core \(odd) needs its pair \(odd - 1) in --cores")
        }
        return slots
    }

    /// Every NeuronCore `neuron-ls --json-output` reports.
    static func listCores(_ workspace: NeuronWorkspace) throws(AutotuneError) -> [Int] {
        let log = workspace.path("neuron-ls.json")
        let outcome = ChildProcess.run("neuron-ls", arguments: ["--json-output"], log: log, timeLimit: .seconds(60))
        guard outcome.succeeded, let data = FileManager.default.contents(atPath: log),
            let devices = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]
        else {
            throw AutotuneError(
                .backend,
                "neuron backend: neuron-ls --json-output \(outcome.summary) (see \(log)); list cores with --cores")
        }
        let count = devices.compactMap { ($0["nc_count"] as? Int) ?? ($0["nc_count"] as? NSNumber)?.intValue }.reduce(
            0, +)
        guard count > 0 else {
            throw AutotuneError(.backend, "neuron backend: neuron-ls reports no NeuronCores (see \(log))")
        }
        return Array(0..<count)
    }

    /// Checks the restrictions and limits, writes the kernel and its job, and compiles it to a
    /// NEFF (unless one was built for the same source and toolchain before).
    public func compile(_ variant: Variant) -> Result<CompiledVariant, MeasurementResult> {
        let start = ContinuousClock.now
        let program: KernelProgram
        switch variant.validProgram() {
        case .success(let built): program = built
        case .failure(let invalid): return .failure(invalid)
        }
        let source = NKIEmitter.emit(
            program,
            header: [
                "template: \(variant.template.id)", "problem: \(variant.problem.key)",
                "configuration: \(variant.configuration.key)", "target: \(variant.target.name)",
            ], release: options.release)
        let directory = workspace.variantDirectory(source: source, toolchain: toolchain)
        let job: String
        do {
            job = try workspace.prepare(
                variant, program: program, source: source, directory: directory, options: options)
        } catch {
            return .failure(MeasurementResult(.failed("harness error: cannot write the job in \(directory): \(error)")))
        }
        let out = (directory as NSString).appendingPathComponent("compile.json")
        if let done = FileManager.default.contents(atPath: out).flatMap({
            try? JSONDecoder().decode(HarnessResult.self, from: $0)
        }), done.status == "ok" || done.status == "dry-run",
            done.neff.map(FileManager.default.fileExists) ?? options.dryRun
        {
            return .success(
                CompiledVariant(
                    variant: variant, program: program, artifact: directory, compileSeconds: done.seconds ?? 0))
        }
        var environment: [String: String] = ["NEURON_PLATFORM_TARGET_OVERRIDE": variant.target.name]
        if let cache = options.compilerCache { environment["NEURON_COMPILE_CACHE_URL"] = cache }
        let run = harness.run(
            "compile", [job], out: out, log: (directory as NSString).appendingPathComponent("compile.log"),
            environment: environment, timeLimit: options.compileTimeLimit)
        let seconds = (ContinuousClock.now - start).seconds
        if let failure = Self.failure(of: run, stage: "compile", limit: options.compileTimeLimit) {
            var measurement = failure
            measurement.compileSeconds = seconds
            return .failure(MeasurementResult(measurement))
        }
        return .success(
            CompiledVariant(variant: variant, program: program, artifact: directory, compileSeconds: seconds))
    }

    /// Runs, times and checks a compiled variant on `slot`'s NeuronCore.
    public func measure(_ compiled: CompiledVariant, slot: Int) -> Measurement {
        let start = ContinuousClock.now
        guard let directory = compiled.artifact else { return .failed("harness error: no compiled kernel") }
        let job = (directory as NSString).appendingPathComponent("job.json")
        let neff = (directory as NSString).appendingPathComponent("neff/file.neff")
        let environment = self.environment(slot: slot, target: compiled.variant.target.name)
        let run = harness.run(
            "run", [job, "--neff", neff], out: (directory as NSString).appendingPathComponent("run.json"),
            log: (directory as NSString).appendingPathComponent("run.log"), environment: environment,
            timeLimit: options.measureTimeLimit)
        let seconds = (ContinuousClock.now - start).seconds
        switch run.outcome {
        case .timedOut, .signalled: state.suspect(slot, target: compiled.variant.target.name)
        default:
            if run.result?.status == "runtime_error" { state.suspect(slot, target: compiled.variant.target.name) }
        }
        if var failure = Self.failure(of: run, stage: "run", limit: options.measureTimeLimit) {
            failure.compileSeconds = compiled.compileSeconds
            failure.measureSeconds = seconds
            return failure
        }
        guard let latency = run.result?.latency else {
            return .failed("harness error: the run reported no latency" + Self.tail(run.logTail))
        }
        var metrics = ["p90_ns": latency.p90, "p99_ns": latency.p99, "mean_ns": latency.mean]
        if let error = run.result?.error { metrics["check_error"] = error }
        if options.profileBest && state.isFastest(latency.p50, key: compiled.variant.problem.key) {
            for (key, value) in profile(directory: directory, job: job, neff: neff, environment: environment) {
                metrics["profile_" + key] = value
            }
        }
        return Measurement(
            status: .ok, latency: latency.p50, latencyMin: latency.min, latencyMax: latency.max,
            samples: latency.samples, metrics: metrics, compileSeconds: compiled.compileSeconds,
            measureSeconds: seconds)
    }

    /// After a time-out, crash or runtime error on `slot`, checks the NeuronCore still answers
    /// before it is used again; false retires the slot.
    public func prepare(slot: Int) -> Bool {
        guard let target = state.suspectTarget(slot) else { return true }
        let run = harness.run(
            "health", out: workspace.path("health/slot-\(slot).json"), log: workspace.path("health/slot-\(slot).log"),
            environment: environment(slot: slot, target: target), timeLimit: .seconds(120))
        let healthy = run.outcome.succeeded && run.result?.status == "ok"
        if healthy { state.clear(slot) }
        return healthy
    }

    /// The environment pinning a run to `slot`'s core(s).
    func environment(slot: Int, target: String) -> [String: String] {
        [
            "NEURON_RT_VISIBLE_CORES": slotCores[slot], "NEURON_LOGICAL_NC_CONFIG": String(options.lnc),
            "NEURON_PLATFORM_TARGET_OVERRIDE": target,
        ]
    }

    /// One traced run's engine active times and DMA figures (empty if profiling fails).
    private func profile(directory: String, job: String, neff: String, environment: [String: String]) -> [String:
        Double]
    {
        let run = harness.run(
            "profile", [job, "--neff", neff], out: (directory as NSString).appendingPathComponent("profile.json"),
            log: (directory as NSString).appendingPathComponent("profile.log"), environment: environment,
            timeLimit: options.measureTimeLimit)
        return run.result?.status == "ok" ? run.result?.summary ?? [:] : [:]
    }

    /// The failed measurement a harness run amounts to, or nil when it succeeded.
    static func failure(of run: NeuronHarness.Run, stage: String, limit: Duration) -> Measurement? {
        let tail = Self.tail(run.logTail)
        switch run.outcome {
        case .timedOut:
            return .failed("time-out: \(stage) ran past \(Int(limit.seconds)) s; its process group was killed" + tail)
        case .signalled(let signal):
            return .failed("crash: the \(stage) was killed by signal \(signal)" + tail)
        case .launchFailed(let reason):
            return .failed("harness error: \(reason)")
        case .exited(let code) where code != 0:
            return .failed("harness error: the \(stage) exited with code \(code)" + tail)
        case .exited:
            break
        }
        guard let result = run.result else {
            if run.unreadable { return .failed("harness error: the \(stage)'s result is not readable JSON" + tail) }
            return .failed("crash: the \(stage) exited without writing its result" + tail)
        }
        let message = result.message.map { ": " + ($0.split(separator: "\n").last.map(String.init) ?? $0) } ?? ""
        switch result.status {
        case "ok", "dry-run": return nil
        case "compile_error": return .failed("compile error" + message + Self.tail(result.message ?? ""))
        case "resource_overflow": return .failed("resource overflow" + message + Self.tail(result.message ?? ""))
        case "runtime_error": return .failed("runtime error" + message + Self.tail(result.message ?? ""))
        case "wrong_answer": return .failed("wrong answer" + message)
        default: return .failed("harness error: status \(result.status)" + message)
        }
    }

    /// A log tail as the end of a failure reason: its last lines, after a line break.
    static func tail(_ text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).suffix(6)
        return lines.isEmpty ? "" : "\n" + lines.joined(separator: "\n")
    }
}

extension NeuronWorkspace {
    /// A path inside the work directory.
    func path(_ relative: String) -> String { (root as NSString).appendingPathComponent(relative) }
}

/// Which slots need a health check, and the fastest latency seen per problem (for `--profile-best`).
final class NeuronSlotState: @unchecked Sendable {
    private let lock = NSLock()
    /// Slots to check, with the target of the run that failed on them.
    private var suspects: [Int: String] = [:]
    private var fastest: [String: Double] = [:]

    func suspect(_ slot: Int, target: String) { lock.withLock { suspects[slot] = target } }
    func clear(_ slot: Int) { lock.withLock { _ = suspects.removeValue(forKey: slot) } }
    func suspectTarget(_ slot: Int) -> String? { lock.withLock { suspects[slot] } }

    /// Whether `latency` beats every latency seen for `key` before (and records it).
    func isFastest(_ latency: Double, key: String) -> Bool {
        lock.withLock {
            guard latency < fastest[key, default: .infinity] else { return false }
            fastest[key] = latency
            return true
        }
    }
}
