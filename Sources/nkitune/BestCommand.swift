import ArgumentParser
import Autotune
import KernelSpace

struct BestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "best", abstract: "Show the fastest cached variants of a kernel for a problem.")

    @OptionGroup var problemOptions: ProblemOptions
    @OptionGroup var cacheOptions: CacheOptions

    @Option(help: "Rows to show (1 to \(TuneCommand.maximumCount)).")
    var limit: Int = 10

    func validate() throws {
        guard (1...TuneCommand.maximumCount).contains(limit) else {
            throw ValidationError("--limit \(limit) must be between 1 and \(TuneCommand.maximumCount)")
        }
    }

    func run() throws {
        let (template, problem, target) = try problemOptions.resolve()
        let cache = try cacheOptions.openCacheForReading()
        let backend = try cacheOptions.makeBackend(jobs: 1, cache: cache, target: target)
        let scope = CacheScope(template: template, problem: problem, target: target, backend: backend)
        let counts = try cache?.counts(in: scope) ?? [:]
        Output.line(
            "\(template.id) \(problem.key) on \(target.name) in \(cacheOptions.cache): \(counts[.ok, default: 0]) ok, "
                + "\(counts[.invalid, default: 0]) invalid, \(counts[.failed, default: 0]) failed")
        try BestTable.print(
            VariantResolver(
                space: SearchSpace(template), problem: problem, target: target, cache: cache,
                backend: backend),
            limit: limit, cachePath: cacheOptions.cache)
    }
}
