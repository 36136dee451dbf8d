import ArgumentParser
import Autotune
import Foundation
import KernelSpace

struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "List kernel templates, their parameters and search-space sizes.",
        discussion: """
            With a kernel and --problem, also counts the configurations that are valid for that problem \
            on the target (passing the template's restrictions and the hardware limits).
            """)

    @Argument(help: "Only this kernel.")
    var kernel: KernelName?

    @Option(help: "Problem to count valid configurations for (needs a kernel).")
    var problem: String?

    @Option(help: "Target chip for the valid count.")
    var target: TargetName = .trn2

    @OptionGroup var spaceOptions: SpaceOptions

    @Option(help: "Threads for the valid count.")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(
        help: """
            Write the built-in space of every template (or of KERNEL) as DIR/<kernel>.yaml and stop. A file \
            that exists and differs (an edited space) is not replaced without --force.
            """)
    var writeSpaces: String?

    @Flag(help: "With --write-spaces, replace space files that differ from the built-in spaces.")
    var force = false

    /// Most configurations the valid count walks.
    static let maximumCensus = 100_000_000

    func validate() throws {
        if problem != nil && kernel == nil {
            throw ValidationError("--problem needs a kernel, e.g. `nkitune kernels linear --problem ...`")
        }
        guard (1...TuneCommand.maximumJobs).contains(jobs) else {
            throw ValidationError("--jobs \(jobs) must be between 1 and \(TuneCommand.maximumJobs)")
        }
    }

    func run() throws {
        let templates = kernel.map { [$0.template] } ?? defaultKernels
        if let writeSpaces { return try write(templates, to: writeSpaces) }
        let target = self.target.target
        let spaces = try templates.map { try spaceOptions.space(for: $0) }
        let rows = spaces.map { [$0.template.id, String($0.parameters.count), String($0.size), $0.template.summary] }
        Output.line(
            TableRenderer.render(
                headers: ["kernel", "parameters", "space", "computes"], rows: rows, rightAligned: [1, 2]))
        for space in spaces {
            let template = space.template
            Output.line("\n\(template.id): problem " + template.problemFields.map(describe).joined(separator: ","))
            let parameters = space.parameters.map { parameter in
                [
                    parameter.name, parameter.domain.values.map(\.description).joined(separator: " "),
                    parameter.defaultValue.description, parameter.summary,
                ]
            }
            Output.line(
                TableRenderer.render(headers: ["parameter", "values", "default", "what it changes"], rows: parameters))
        }
        guard let problemText = problem, let space = spaces.first else { return }
        let template = space.template
        let problem = try template.parseProblem(problemText)
        guard space.size <= Self.maximumCensus else {
            throw CLIError(
                "the space of \(template.id) has \(space.size == Int.max ? "over 2^63" : String(space.size)) "
                    + "configurations, over the \(Self.maximumCensus) that can be counted; narrow it in a space file")
        }
        Output.error("counting valid configurations among \(space.size) on \(jobs) threads...\n")
        let census = SpaceCensus.take(space, problem: problem, target: target, jobs: jobs)
        Output.line(
            "\n\(template.id) \(problem.key) on \(target.name): \(census.valid) valid of \(census.total) "
                + "(\(census.restricted) restricted, \(census.overLimits) over hardware limits)")
    }

    private func describe(_ field: ProblemField) -> String {
        switch field.kind {
        case .size: return field.name + "=<size>"
        case .offset: return field.name + "=<offset>"
        case .choice(let names): return field.name + "=" + names.joined(separator: "|")
        }
    }

    /// Writes each template's rendered space file; refuses (writing nothing) when an existing file
    /// differs and `--force` is not given.
    private func write(_ templates: [any KernelTemplate], to directory: String) throws {
        let manager = FileManager.default
        let files = templates.map { template in
            (
                path: (directory as NSString).appendingPathComponent("\(template.id).yaml"),
                text: SpaceFile.render(template)
            )
        }
        let edited = files.filter { file in
            manager.contents(atPath: file.path).map { $0 != Data(file.text.utf8) } ?? false
        }
        if !edited.isEmpty && !force {
            throw CLIError(
                "not replacing edited space files \(edited.map(\.path).joined(separator: ", ")) "
                    + "(they differ from the built-in spaces; pass --force to replace them)")
        }
        do {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for file in files {
                try Data(file.text.utf8).write(to: URL(fileURLWithPath: file.path), options: .atomic)
            }
        } catch {
            throw CLIError("cannot write spaces in \(directory): \((error as NSError).localizedDescription)")
        }
        Output.error("wrote \(files.count) space file(s) in \(directory)\n")
    }
}
