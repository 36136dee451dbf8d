import ArgumentParser
import Autotune
import CostModel
import Foundation
import KernelSpace
import MoEModel

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Show a model's kernel inventory per phase, with MACs and predicted latency.",
        discussion: """
            MODEL is a built-in name (qwen3-30b-a3b) or the path of a Hugging Face config.json of the \
            Qwen3-MoE family. Latency comes from the default backend: the best cached variant where the \
            kernel was tuned, else the template's default configuration. Kernels without a template yet \
            are listed with their MACs and no latency.

            Example: nkitune model qwen3-30b-a3b --target trn2 --tp 4 --prompt 128
            """)

    @Argument(help: "Built-in model name or path to a config.json.")
    var model: String

    @Option(help: "Target chip.")
    var target: TargetName = .trn2

    @Option(help: "Tensor-parallel degree.")
    var tp: Int = 4

    @Option(help: "Prompt tokens (prefill).")
    var prompt: Int = 128

    @Option(help: "Cached positions of the decoded token (default: the prompt length).")
    var position: Int?

    @Option(help: "Sequence length (prompt plus generated tokens).")
    var sequence: Int = 640

    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var spaceOptions: SpaceOptions

    func run() throws {
        let config = try loadModel()
        let target = self.target.target
        let deployment = Deployment(
            model: config, target: target.name, tensorParallel: tp, sequenceLength: sequence, promptLength: prompt,
            decodePosition: position)
        if let problem = deployment.problem { throw CLIError(problem) }
        var spaces: [String: SearchSpace] = [:]
        for template in config.kernels { spaces[template.id] = try spaceOptions.space(for: template) }
        let cache = try cacheOptions.openCacheForReading()
        let estimator = PhaseEstimator(
            target: target, spaces: spaces, cache: cache, backend: cacheOptions.makeBackend(jobs: 1))
        Output.line(
            "\(config.name) on \(target.name), tensor parallel \(tp): per rank \(deployment.queryHeads) query heads, "
                + "\(deployment.keyValueHeads) KV head(s), \(deployment.expertColumns) expert columns, "
                + "vocabulary slice \(deployment.vocabularySlice)")
        for phase in Phase.allCases {
            let estimates = estimator.estimate(deployment.inventory(phase))
            let title =
                phase == .prefill
                ? "prefill of \(prompt) prompt tokens" : "decode of one token at position \(deployment.decodePosition)"
            Output.line("\n\(phase.rawValue): \(title)")
            printPhase(estimates)
        }
    }

    private func loadModel() throws -> ModelConfig {
        if let builtIn = ModelConfig.builtIn[model] { return builtIn }
        guard FileManager.default.fileExists(atPath: model) else {
            let known = ModelConfig.builtIn.keys.sorted().joined(separator: ", ")
            throw CLIError("unknown model '\(model)' (expected a config.json path or one of: \(known))")
        }
        guard let data = FileManager.default.contents(atPath: model) else { throw CLIError("cannot read \(model)") }
        return try ModelConfig(json: data, name: model)
    }

    private func printPhase(_ estimates: [CallEstimate]) {
        let totalMACs = estimates.reduce(0) { $0 + $1.call.macs }
        let totalLatency = estimates.compactMap(\.total).reduce(0, +)
        let rows = estimates.map { estimate -> [String] in
            let call = estimate.call
            let macShare = totalMACs > 0 ? Double(call.macs) / Double(totalMACs) * 100 : 0
            let latencyShare = estimate.total.map {
                totalLatency > 0 ? String(format: "%.1f%%", $0 / totalLatency * 100) : "-"
            }
            return [
                call.role, call.kernel, call.problem.key, String(call.count),
                String(format: "%.2f M", Double(call.macsPerCall) / 1e6),
                String(format: "%.1f%%", macShare), formatLatency(estimate.latency), formatLatency(estimate.total),
                latencyShare ?? "-", estimate.source,
            ]
        }
        Output.line(
            TableRenderer.render(
                headers: [
                    "role", "kernel", "problem", "calls", "MACs/call", "MAC share", "latency", "total", "share",
                    "configuration",
                ],
                rows: rows, rightAligned: [3, 4, 5, 6, 7, 8]))
        let covered = estimates.filter { $0.latency != nil }
        let coveredMACs = covered.reduce(0) { $0 + $1.call.macs }
        Output.line(
            String(
                format: "total: %.3f G MACs; predicted %@ for the %d of %d kernels with a template (%.1f%% of MACs)",
                Double(totalMACs) / 1e9, formatLatency(totalLatency), covered.count, estimates.count,
                totalMACs > 0 ? Double(coveredMACs) / Double(totalMACs) * 100 : 0))
    }
}
