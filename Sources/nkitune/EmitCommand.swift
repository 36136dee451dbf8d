import ArgumentParser
import Autotune
import Foundation
import KernelSpace

struct EmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emit",
        abstract: "Write a variant's NKI source (default: the fastest cached variant).")

    @OptionGroup var problemOptions: ProblemOptions
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var spaceOptions: SpaceOptions

    @Option(help: "Configuration key (NAME=VALUE,...); parameters left out take their defaults.")
    var config: String?

    @Option(help: "File to write (default: standard output).")
    var out: String?

    func run() throws {
        let (template, problem, target) = try problemOptions.resolve()
        let space = try spaceOptions.space(for: template)
        var predicted: Double?
        let configuration: Configuration
        if let config {
            do {
                configuration = try space.parse(config)
            } catch {
                throw CLIError(error.message)
            }
        } else {
            let cache = try cacheOptions.openCache()
            let backend = try cacheOptions.makeBackend(jobs: 1)
            let scope = CacheScope(
                kernel: template.id, problem: problem.key, target: target.name, backend: backend.name,
                toolchain: backend.toolchain)
            let best: [CachedMeasurement]
            do {
                best = try cache.best(in: scope, limit: 1)
            } catch {
                throw CLIError(error.message)
            }
            guard let entry = best.first else {
                throw CLIError(
                    "no tuned variant of \(template.id) \(problem.key) on \(target.name) in \(cache.path); "
                        + "run `nkitune tune` first or pass --config")
            }
            do {
                configuration = try space.parse(entry.configuration)
            } catch {
                throw CLIError("cached configuration is not in the current space: \(error.message)")
            }
            predicted = entry.measurement.latency
        }
        if let reason = template.restriction(configuration, for: problem) {
            throw CLIError("configuration \(configuration.key) is not valid for \(problem.key): \(reason)")
        }
        let program = template.program(for: problem, configuration: configuration)
        if let reason = ResourceCheck.violation(of: program, limits: target.limits) {
            throw CLIError("configuration \(configuration.key) does not fit \(target.name): \(reason)")
        }
        var header = [
            "nkitune kernel: \(template.id)", "problem: \(problem.key)", "configuration: \(configuration.key)",
            "target: \(target.name)",
        ]
        if let predicted { header.append("predicted latency (performance model): \(formatLatency(predicted))") }
        let source = NKIEmitter.emit(program, header: header)
        guard let out else {
            print(source, terminator: "")
            return
        }
        do {
            try source.write(toFile: out, atomically: true, encoding: .utf8)
        } catch {
            throw CLIError("cannot write \(out): \((error as NSError).localizedDescription)")
        }
        FileHandle.standardError.write(Data("wrote \(out)\n".utf8))
    }
}
