import ArgumentParser
import Autotune

struct BestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "best", abstract: "Show the fastest cached variants of a kernel for a problem.")

    @OptionGroup var problemOptions: ProblemOptions
    @OptionGroup var cacheOptions: CacheOptions

    @Option(help: "Rows to show.")
    var limit: Int = 10

    func run() throws {
        let (template, problem, target) = try problemOptions.resolve()
        let cache = try cacheOptions.openCache()
        let backend = try cacheOptions.makeBackend(jobs: 1)
        let scope = CacheScope(
            kernel: template.id, problem: problem.key, target: target.name, backend: backend.name,
            toolchain: backend.toolchain)
        let counts: [VariantStatus: Int]
        do {
            counts = try cache.counts(in: scope)
        } catch {
            throw CLIError(error.message)
        }
        print(
            "\(template.id) \(problem.key) on \(target.name) in \(cache.path): \(counts[.ok, default: 0]) ok, "
                + "\(counts[.invalid, default: 0]) invalid, \(counts[.failed, default: 0]) failed")
        try printBest(cache: cache, scope: scope, template: template, limit: limit)
    }
}
