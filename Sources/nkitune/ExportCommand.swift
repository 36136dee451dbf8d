import ArgumentParser
import Autotune
import CostModel
import Foundation
import KernelSpace
import MoEModel

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the tuned kernels, a model module for the contest harness, a manifest and a report.",
        discussion: """
            For every task of the model (see tune-model) the fastest current tuned variant in the cache is \
            exported, else the default configuration. --out receives kernels/<kernel>_<shape>.py, \
            qwen_tuned.py (for the contest's main.py, beside its baseline qwen.py), manifest.json and \
            report.html. The directory is written atomically; an existing one is replaced only if \
            nkitune wrote it.

            First the accuracy gate runs the exported decode kernels chained through decoder layers on \
            the interpreter and compares greedy logits with an fp32 reference under the harness's \
            tolerances; a failing set is not exported unless --force.

            Example: nkitune export qwen3-30b-a3b --target trn2 --out tuned/
            """)

    @OptionGroup var deploymentOptions: DeploymentOptions
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var spaceOptions: SpaceOptions
    @OptionGroup var accuracyOptions: AccuracyOptions
    @OptionGroup var releaseOption: ReleaseOption

    @Option(help: "Directory to write.")
    var out: String

    @Flag(help: "Export even when the accuracy gate fails.")
    var force = false

    func run() throws {
        let deployment = try deploymentOptions.deployment()
        let target = deploymentOptions.target.target
        let spaces = try spaceOptions.spaces(for: deployment.model)
        let cache = try cacheOptions.openCacheForReading()
        let backend = try cacheOptions.makeBackend(jobs: 1, cache: cache, target: target)
        let run = ModelTuner.runKey(deployment, backend: backend)
        var export = try ModelExporter(backend: backend, cache: cache).gather(
            deployment, target: target, spaces: spaces, run: run)
        export.release = releaseOption.sdk
        if let note = releaseOption.note(for: export.kernels.map(\.program), on: target) { Output.error(note) }
        let tuned = export.kernels.filter { $0.source == "tuned" }.count
        Output.error(
            "exporting \(export.kernels.count) kernels of \(deployment.model.name) on \(target.name) (\(tuned) tuned); "
                + "checking accuracy on the interpreter (\(accuracyOptions.gateLayers) layers, "
                + "\(accuracyOptions.gateSteps) greedy steps)\n")
        let outcome = try export.checkAccuracy(layers: accuracyOptions.gateLayers, steps: accuracyOptions.gateSteps)
        Output.line("accuracy gate " + outcome.summary)
        if !outcome.passed && !force {
            throw CLIError("accuracy gate failed; nothing was written to \(out) (--force exports anyway)")
        }
        let module = ContestModule.render(export)
        let problems = ModuleCheck.problems(module)
        guard problems.isEmpty else {
            throw CLIError("the generated module " + problems.joined(separator: ", ") + "; nothing was written")
        }
        let accuracy = Dictionary(outcome.rules.map { ($0.name, $0.worst) }, uniquingKeysWith: { first, _ in first })
        var files = export.kernels.map { (path: $0.fileName, text: KernelFile.render($0, export: export)) }
        files.append((path: "qwen_tuned.py", text: module))
        files.append((path: "manifest.json", text: ExportManifest.render(export, accuracy: accuracy)))
        files.append((path: "report.html", text: ReportPage.render(export, accuracy: outcome.summary)))
        try OutputDirectory(path: out).write(files)
        Output.line(
            "wrote \(out): \(export.kernels.count) kernels, qwen_tuned.py, manifest.json, report.html; "
                + String(
                    format: "estimated decode %.3f ms/token (untuned %.3f), score %.2f (untuned %.2f)",
                    export.estimate.run.decode.total / 1e6, export.untunedEstimate.run.decode.total / 1e6,
                    export.estimate.run.totalScore, export.untunedEstimate.run.totalScore))
    }
}
