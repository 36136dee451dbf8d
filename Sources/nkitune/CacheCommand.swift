import ArgumentParser
import Autotune
import Foundation
import KernelSpace

struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Work with the timing cache.",
        subcommands: [ExportKernelTunerCommand.self, MergeCommand.self])
}

struct ExportKernelTunerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-kt",
        abstract: "Write one kernel's cached results in Kernel Tuner's cache format.",
        discussion: """
            Every cached variant of the kernel, problem and target (on the chosen backend) becomes an \
            entry Kernel Tuner can read or replay in its simulation mode: time in milliseconds, or \
            InvalidConfig / RuntimeFailedConfig. The cache is opened read-only.

            Example: nkitune cache export-kt linear --problem M=640,K=2048,N=768 --target trn2 --out linear.json
            """)

    @OptionGroup var problemOptions: ProblemOptions
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var spaceOptions: SpaceOptions

    @Option(help: "JSON file to write.")
    var out: String

    func run() throws {
        let (template, problem, target) = try problemOptions.resolve()
        let space = try spaceOptions.space(for: template)
        guard let cache = try cacheOptions.openCacheForReading() else {
            throw CLIError("no cache at \(cacheOptions.cache)")
        }
        let backend = try cacheOptions.makeBackend(jobs: 1, cache: cache, target: target)
        let scope = CacheScope(template: template, problem: problem, target: target, backend: backend)
        let keys = try cache.configurations(in: scope).sorted()
        let rows = try cache.measurements(of: keys, in: scope).values.sorted { $0.configuration < $1.configuration }
        guard !rows.isEmpty else {
            throw CLIError("no cached results of \(template.id) \(problem.key) on \(target.name) in \(cache.path)")
        }
        let text = KernelTunerCache.render(rows, space: space, problem: problem, scope: scope)
        try OutputFile(path: out, marker: KernelTunerCache.marker, cachePath: cacheOptions.cache).write(text)
        Output.error("wrote \(out): \(rows.count) results of \(template.id) \(problem.key) on \(target.name)\n")
    }
}

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge other caches (fleet workers' shards) into the cache.",
        discussion: """
            Rows are keyed by content (kernel, problem, configuration, target, backend, toolchain); a \
            row the cache already holds for the same program is kept with its checks, so merging a \
            shard twice changes nothing. Each shard is judged like any cache and only read.

            Example: nkitune cache merge /fsx/nkitune/rounds/*/shard-*.sqlite
            """)

    @Argument(help: "Cache files to merge in.")
    var shards: [String]

    @OptionGroup var cacheOptions: CacheOptions

    func run() throws {
        let cache = try cacheOptions.openCache()
        var total = 0
        for shard in shards {
            let added = try cache.merge(shard: shard)
            total += added
            Output.line("\(shard): \(added) rows added or replaced")
        }
        Output.line("\(total) rows merged into \(cache.path)")
    }
}
