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
    @OptionGroup var releaseOption: ReleaseOption

    @Option(help: "Configuration key (NAME=VALUE,...); parameters left out take their defaults.")
    var config: String?

    @Option(help: "File to write (default: standard output).")
    var out: String?

    func run() throws {
        let (template, problem, target) = try problemOptions.resolve()
        let choice = try cacheOptions.chooseVariant(
            config: config, space: try spaceOptions.space(for: template), problem: problem, target: target,
            orDefault: false)
        let (configuration, program) = (choice.configuration, choice.program)
        var predicted: Double?
        if case .tuned(let latency) = choice.source { predicted = latency }
        var header = [
            "nkitune kernel: \(template.id)", "problem: \(problem.key)", "configuration: \(configuration.key)",
            "target: \(target.name)",
        ]
        if let predicted { header.append("predicted latency (performance model): \(formatLatency(predicted))") }
        let source = NKIEmitter.emit(program, header: header, release: releaseOption.sdk)
        if let note = releaseOption.note(for: [program], on: target) { Output.error(note) }
        guard let out else {
            Output.write(source)
            return
        }
        try OutputFile(path: out, marker: "# nkitune kernel: ", cachePath: cacheOptions.cache).write(source)
        Output.error("wrote \(out)\n")
    }
}
