import ArgumentParser
import Autotune
import CostModel
import Foundation
import KernelSpace

struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Search one kernel's configurations for the fastest on a problem.",
        discussion: """
            Variants already in the cache are not evaluated again, so a rerun (or a run after Ctrl-C) \
            continues where the last one stopped. The fastest variants are checked on the CPU \
            interpreter against the template's reference; a wrong one is marked failed.

            Example: nkitune tune linear --problem M=640,K=2048,N=768 --target trn2
            """)

    @OptionGroup var problemOptions: ProblemOptions
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var spaceOptions: SpaceOptions
    @OptionGroup(title: "Neuron backend (--backend neuron)") var neuronArguments: NeuronArguments
    @OptionGroup(title: "Fleet (--slurm)") var fleetArguments: FleetArguments

    @Option(
        help: """
            Search strategy. auto: guided (the performance model ranks the space and measurements \
            correct it as they come), which measures every valid configuration when the budget allows.
            """)
    var strategy: Strategy = .auto

    @Option(help: "Most configurations to consider (default: all for exhaustive or with --time, else 2000).")
    var budget: Int?

    @Option(help: "Longest the search may take, e.g. 90s, 20m, 1h30m; the checks come after.")
    var time: TimeBudget?

    @Option(help: "Seed of the randomised strategies.")
    var seed: UInt64 = 1

    @Option(help: "Threads that compile and time variants (1 to \(Self.maximumJobs)).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "How many of the fastest variants must pass the numeric check (0 to \(Self.maximumCount)).")
    var verify: Int = 3

    @Option(help: "Rows in the table of best variants (1 to \(Self.maximumCount)).")
    var top: Int = 5

    @Flag(help: "Search only variants bit-identical to the reference configuration (see --reference).")
    var exact = false

    @Option(help: "Reference configuration of --exact (default: the template's default configuration).")
    var reference: String?

    /// Most threads `--jobs` takes.
    static let maximumJobs = 256
    /// Most checks or table rows a count option takes.
    static let maximumCount = 1000

    func validate() throws {
        if let budget, budget <= 0 { throw ValidationError("--budget \(budget) must be positive") }
        guard (1...Self.maximumJobs).contains(jobs) else {
            throw ValidationError("--jobs \(jobs) must be between 1 and \(Self.maximumJobs)")
        }
        guard (0...Self.maximumCount).contains(verify) else {
            throw ValidationError("--verify \(verify) must be between 0 and \(Self.maximumCount)")
        }
        guard (1...Self.maximumCount).contains(top) else {
            throw ValidationError("--top \(top) must be between 1 and \(Self.maximumCount)")
        }
    }

    func run() throws {
        let (template, problem, target) = try problemOptions.resolve()
        var space = try spaceOptions.space(for: template)
        if exact || reference != nil {
            var chosen = space.defaultConfiguration
            if let reference {
                do {
                    chosen = try space.parse(reference)
                } catch {
                    throw CLIError("--reference: \(error.message)")
                }
            }
            space = space.exact(to: chosen)
        }
        let cache = try cacheOptions.openCache()
        let backend = try cacheOptions.makeBackend(
            jobs: jobs, cache: cache, target: target, neuron: cacheOptions.backend == .neuron ? neuronArguments : nil,
            lnc: CoreSharing.cores(problem), exactReference: space.exactReference?.key)
        let request = TuneRequest(
            space: space, problem: problem, target: target, strategy: strategy,
            budget: budget ?? (strategy == .exhaustive || time != nil ? nil : 2000), seed: seed, jobs: jobs,
            verify: verify, time: time?.seconds)
        let limits = [request.budget.map { "budget \($0)" }, time.map { "time \(TimeBudget.describe($0.seconds))" }]
        let limit = limits.compactMap { $0 }.joined(separator: ", ")
        Interruption.install()
        Output.error(
            "tuning \(template.id) \(problem.key) on \(target.name), \(backend.name) backend: "
                + "\(strategy.rawValue) search, \(limit.isEmpty ? "whole space" : limit), seed \(seed), \(jobs) jobs\n")
        let search = ProgressReporter(label: "searched")
        let checks = ProgressReporter(label: "checks passed")
        let fleet = try fleetArguments.fleet(
            backend: cacheOptions.backend, neuron: neuronArguments, lnc: CoreSharing.cores(problem), jobs: jobs)
        let driver = Driver(backend: backend, cache: cache, fleet: fleet)
        let summary: TuneSummary
        do {
            // A redrawn progress line is ended whether the run finishes or fails.
            defer {
                search.finish()
                checks.finish()
            }
            summary = try driver.tune(request, shouldStop: { Interruption.requested }) { progress in
                let detail = "best \(formatLatency(progress.bestLatency))"
                switch progress.phase {
                case .searching:
                    search.update(
                        done: progress.done, total: progress.total,
                        detail: "\(progress.evaluated) evaluated, \(detail)")
                case .checking:
                    search.finish()
                    checks.update(done: progress.done, total: progress.total, detail: "on the interpreter, \(detail)")
                }
            }
        }
        report(summary)
        if summary.timeUp, let time {
            Output.line("time of \(TimeBudget.describe(time.seconds)) used up; rerun to search further")
        }
        if let reference = space.exactReference { Output.line("bit-exact to \(reference.key)") }
        let shown = try BestTable.print(
            VariantResolver(space: space, problem: problem, target: target, cache: cache, backend: backend), limit: top,
            exactTo: space.exactReference?.key)
        if summary.interrupted {
            Output.line(
                "interrupted: every finished variant is saved in \(cache.path); run the same command to continue")
            throw ExitCode(130)
        }
        if summary.candidates == 0 || shown == 0 {
            throw CLIError(nothingValid(summary, template: template, problem: problem, target: target))
        }
    }

    private func report(_ summary: TuneSummary) {
        let counts = summary.evaluated
        Output.line(
            "\(summary.candidates) candidates: \(summary.cached) cached, \(counts.values.reduce(0, +)) evaluated "
                + "(\(counts[.ok, default: 0]) ok, \(counts[.invalid, default: 0]) invalid, "
                + "\(counts[.failed, default: 0]) failed) in \(String(format: "%.1f", summary.evaluationSeconds)) s"
                + (summary.rate > 0 ? String(format: ", %.0f variants/s", summary.rate) : ""))
        if summary.census.excluded > 0 {
            Output.line(
                "\(summary.census.excluded) of \(summary.census.considered) configurations considered were left out "
                    + "by restrictions")
        }
        let checks = summary.verification
        if checks.checked > 0 || checks.outsideSpace > 0 || checks.notExact > 0 {
            var parts = ["\(checks.checked) checked on the interpreter", "\(checks.wrong) wrong answer(s)"]
            if exact || reference != nil { parts.append("\(checks.notExact) not bit-exact") }
            if checks.outsideSpace > 0 {
                parts.append("\(checks.outsideSpace) faster cached variant(s) outside this space not checked")
            }
            Output.line(parts.joined(separator: ", "))
        }
    }

    /// Why no variant succeeded: the most common reasons configurations were left out or invalid.
    private func nothingValid(_ summary: TuneSummary, template: any KernelTemplate, problem: Problem, target: Target)
        -> String
    {
        let reasons = (summary.invalid.commonReasons(1) + summary.census.commonReasons(2)).map {
            "\($0.reason) (\($0.count)x)"
        }
        let considered = "\(summary.census.considered) configurations considered, \(summary.candidates) valid"
        let invalid = summary.evaluated[.invalid, default: 0]
        var message = "no valid variant of \(template.id) \(problem.key) on \(target.name): \(considered)"
        if invalid > 0 { message += ", \(invalid) over hardware limits" }
        if !reasons.isEmpty { message += "; most common: " + reasons.joined(separator: "; ") }
        return message
    }
}
