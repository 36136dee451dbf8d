import ArgumentParser
import Autotune
import CostModel
import Foundation
import KernelSpace
import MoEModel

struct TuneModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune-model",
        abstract: "Tune every kernel of a model under one time or measurement budget.",
        discussion: """
            Tasks are the distinct (kernel, problem) pairs of prefill and decode, weighted by how often \
            they run in the scored generations (one per public contest prompt). After a warm-up slice \
            for every task, each slice of --slice measurements goes to the task where the estimated \
            scored time can shrink most (--policy gradient), or to the tasks in turn (round-robin). \
            After every round the whole-model estimate is stored in the cache and shown.

            Stop it at any time: Ctrl-C finishes the variants in flight, stores everything and exits \
            130; the same command again continues, and the budget already spent counts. Two runs on one \
            cache work on different tasks.

            Example: nkitune tune-model qwen3-30b-a3b --target trn2 --time 8h
            """)

    @OptionGroup var deploymentOptions: DeploymentOptions
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var spaceOptions: SpaceOptions
    @OptionGroup(title: "Neuron backend (--backend neuron)") var neuronArguments: NeuronArguments
    @OptionGroup(title: "Fleet (--slurm)") var fleetArguments: FleetArguments

    @Option(help: "Wall-clock budget of the whole run, e.g. 8h, 30m, 1h30m (default: 8h unless --budget is given).")
    var time: TimeBudget?

    @Option(help: "Most measurements of the whole run, spent ones included.")
    var budget: Int?

    @Option(help: "Search strategy within a task.")
    var strategy: Strategy = .auto

    @Option(help: "How slices are shared among tasks.")
    var policy: SchedulePolicy = .gradient

    @Option(help: "New measurements per slice of one task (1 to 100000).")
    var slice: Int = 32

    @Option(help: "Seed of the randomised strategies.")
    var seed: UInt64 = 1

    @Option(help: "Threads that compile and time variants (1 to \(TuneCommand.maximumJobs)).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Fastest variants of a task that must pass the numeric check after each slice (0 to 100).")
    var verify: Int = 1

    func validate() throws {
        if let budget, budget <= 0 { throw ValidationError("--budget \(budget) must be positive") }
        guard (1...100_000).contains(slice) else {
            throw ValidationError("--slice \(slice) must be between 1 and 100000")
        }
        guard (1...TuneCommand.maximumJobs).contains(jobs) else {
            throw ValidationError("--jobs \(jobs) must be between 1 and \(TuneCommand.maximumJobs)")
        }
        guard (0...100).contains(verify) else { throw ValidationError("--verify \(verify) must be between 0 and 100") }
    }

    func run() throws {
        let deployment = try deploymentOptions.deployment()
        let target = deploymentOptions.target.target
        let spaces = try spaceOptions.spaces(for: deployment.model)
        let cache = try cacheOptions.openCache()
        let backend = try cacheOptions.makeBackend(
            jobs: jobs, cache: cache, target: target, neuron: cacheOptions.backend == .neuron ? neuronArguments : nil,
            lnc: deployment.logicalCoreSize)
        let timeLimit = time?.seconds ?? (budget == nil ? 8 * 3600 : nil)
        let request = ModelTuneRequest(
            deployment: deployment, target: target, spaces: spaces, strategy: strategy, policy: policy,
            budget: budget, time: timeLimit, slice: slice, seed: seed, jobs: jobs, verify: verify)
        let fleet = try fleetArguments.fleet(
            backend: cacheOptions.backend, neuron: neuronArguments, lnc: deployment.logicalCoreSize, jobs: jobs)
        let tuner = ModelTuner(backend: backend, cache: cache, fleet: fleet)
        let spent = try cache.spending(of: tuner.runKey(request))
        var limits: [String] = []
        if let timeLimit { limits.append("time \(TimeBudget.describe(timeLimit))") }
        if let budget { limits.append("budget \(budget) measurements") }
        Interruption.install()
        Output.error(
            "tuning \(deployment.model.name) on \(target.name) (\(deployment.key)), \(backend.name) backend: "
                + "\(deployment.tasks().count) tasks, \(policy.rawValue) scheduling, \(strategy.rawValue) search, "
                + limits.joined(separator: ", ") + ", slices of \(slice), seed \(seed), \(jobs) jobs\n")
        if spent.measurements > 0 || spent.seconds > 0 {
            Output.error(
                "continuing: \(spent.measurements) measurements and \(TimeBudget.describe(spent.seconds)) "
                    + "already spent in \(cache.path)\n")
        }
        let display = TuneModelStatus(time: timeLimit, budget: budget)
        let summary: ModelTuneSummary
        do {
            defer { display.finish() }
            summary = try tuner.run(
                request, shouldStop: { Interruption.requested }, onSlice: { display.slice($0) },
                onRound: { display.round($0) })
        }
        report(summary, target: target)
        if summary.ending == .interrupted {
            Output.line(
                "interrupted: every finished variant and estimate is saved in \(cache.path); "
                    + "run the same command to continue")
            throw ExitCode(130)
        }
    }

    private func report(_ summary: ModelTuneSummary, target: Target) {
        Output.line(
            "ended: \(summary.ending.rawValue); this run: \(summary.slices) slices, \(summary.measurements) "
                + "measurements; whole run: \(summary.end.measurements) measurements in "
                + TimeBudget.describe(summary.end.seconds))
        let startPrompts = Dictionary(summary.start.prompts.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a })
        let rows = summary.end.prompts.map { end -> [String] in
            let start = startPrompts[end.index]
            return [
                String(end.index), formatLatency(start?.timeToFirstToken), formatLatency(end.timeToFirstToken),
                formatLatency(start?.decodePerToken), formatLatency(end.decodePerToken),
                start.map { String(format: "%.0f ms", $0.latency / 1e6) } ?? "-",
                String(format: "%.0f ms", end.latency / 1e6), start.map { String(format: "%.2f", $0.score) } ?? "-",
                String(format: "%.2f", end.score),
            ]
        }
        if !rows.isEmpty {
            Output.line("")
            Output.line(
                TableRenderer.render(
                    headers: [
                        "prompt", "TTFT start", "TTFT now", "decode start", "decode now", "latency start",
                        "latency now", "score start", "score now",
                    ], rows: rows, rightAligned: Set(0...8)))
        }
        Output.line("")
        Output.line(EstimateReport.render(summary.estimate.run, launchOverhead: target.launchOverhead))
    }
}
