import ArgumentParser
import Autotune
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

    @Option(help: "Search strategy: random or exhaustive.")
    var strategy: String = "random"

    @Option(help: "Most configurations to consider (default: 2000 for random, all for exhaustive).")
    var budget: Int?

    @Option(help: "Seed of the random strategy.")
    var seed: UInt64 = 1

    @Option(help: "Threads that compile and time variants.")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "How many of the fastest variants must pass the numeric check.")
    var verify: Int = 3

    @Option(help: "Rows in the table of best variants.")
    var top: Int = 5

    @Flag(help: "Search only variants bit-identical to the reference configuration (see --reference).")
    var exact = false

    @Option(help: "Reference configuration of --exact (default: the template's default configuration).")
    var reference: String?

    func run() throws {
        let (template, problem, target) = try problemOptions.resolve()
        guard let strategy = Strategy(rawValue: strategy) else {
            throw CLIError("unknown strategy '\(self.strategy)' (expected random or exhaustive)")
        }
        if let budget, budget <= 0 { throw CLIError("--budget \(budget) must be positive") }
        guard jobs > 0 else { throw CLIError("--jobs \(jobs) must be positive") }
        guard verify >= 0 else { throw CLIError("--verify \(verify) must not be negative") }
        let cache = try cacheOptions.openCache()
        let backend = try cacheOptions.makeBackend(jobs: jobs)
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
        let request = TuneRequest(
            space: space, problem: problem, target: target, strategy: strategy,
            budget: budget ?? (strategy == .random ? 2000 : nil), seed: seed, jobs: jobs, verify: verify)
        let limit = request.budget.map { "budget \($0)" } ?? "whole space"
        FileHandle.standardError.write(
            Data(
                ("tuning \(template.id) \(problem.key) on \(target.name), \(backend.name) backend: "
                    + "\(strategy.rawValue) search, \(limit), seed \(seed), \(jobs) jobs\n").utf8))
        Interruption.install()
        let reporter = ProgressReporter(label: "evaluated")
        let driver = Driver(backend: backend, cache: cache)
        let summary: TuneSummary
        do {
            summary = try driver.tune(request, shouldStop: { Interruption.requested }) { progress in
                reporter.update(
                    done: progress.done, total: progress.total, detail: "best \(formatLatency(progress.bestLatency))")
            }
        } catch {
            throw CLIError(error.message)
        }
        let counts = summary.evaluated
        print(
            "\(summary.candidates) candidates: \(summary.cached) cached, \(counts.values.reduce(0, +)) evaluated "
                + "(\(counts[.ok, default: 0]) ok, \(counts[.invalid, default: 0]) invalid, "
                + "\(counts[.failed, default: 0]) failed) in \(String(format: "%.1f", summary.evaluationSeconds)) s"
                + (summary.rate > 0 ? String(format: ", %.0f variants/s", summary.rate) : ""))
        if summary.checked > 0 {
            print("checked \(summary.checked) fastest on the interpreter: \(summary.checkFailures) wrong")
        }
        let scope = driver.scope(for: request)
        if let reference = space.exactReference { print("bit-exact to \(reference.key)") }
        try printBest(cache: cache, scope: scope, template: template, limit: top, exactTo: space.exactReference?.key)
        if summary.interrupted {
            print("interrupted: every finished batch is saved in \(cache.path); run the same command to continue")
            throw ExitCode(130)
        }
    }
}

/// Prints the fastest cached variants of a scope with their speedup over the default configuration.
func printBest(
    cache: TimingCache, scope: CacheScope, template: any KernelTemplate, limit: Int, exactTo reference: String? = nil
) throws {
    do {
        let best = try cache.best(in: scope, limit: limit, exactTo: reference)
        guard !best.isEmpty else {
            print("no successful variant of \(scope.kernel) \(scope.problem) on \(scope.target) in \(cache.path)")
            return
        }
        let baseline = try cache.measurement(configuration: template.defaultConfiguration.key, in: scope)?
            .measurement.latency
        let rows = best.enumerated().map { rank, entry -> [String] in
            let latency = entry.measurement.latency
            let speedup = baseline.flatMap { base in latency.map { String(format: "%.2fx", base / $0) } } ?? "-"
            let exactness = entry.bitExact.map { $0 ? "yes" : "no" } ?? "-"
            return [
                String(rank + 1), formatLatency(latency), speedup, boundEngine(entry.measurement.metrics),
                entry.check ?? "-", exactness, entry.configuration,
            ]
        }
        print(
            TableRenderer.render(
                headers: ["#", "latency", "vs default", "bound", "check", "bit-exact", "configuration"], rows: rows,
                rightAligned: [0, 1, 2]))
    } catch {
        throw CLIError(error.message)
    }
}

/// The engine with the largest busy time in a measurement's metrics.
func boundEngine(_ metrics: [String: Double]) -> String {
    let busy = metrics.filter { $0.key.hasPrefix("busy_") }
    guard let top = busy.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }) else {
        return "-"
    }
    return String(top.key.dropFirst("busy_".count).dropLast("_ns".count))
}
