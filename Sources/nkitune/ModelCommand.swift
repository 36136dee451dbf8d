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
            kernel was tuned, else the template's default configuration. The deployment defaults to the \
            contest harness's: tensor parallel 4, one bucket of --sequence positions (prefill on the \
            prompt padded to the bucket, decode over the whole cache); --prompt and --position model \
            other deployments exactly.

            After the tables comes the estimate of one generation as the harness runs it: kernels back \
            to back inside the compiled graphs (no launch overhead per kernel, unlike the tables' \
            standalone latencies), the collectives, embedding, sampling and framework time with their \
            sources, and per public prompt the time to first token, decode time per token, end-to-end \
            latency, throughput and contest score against the published baseline.

            Example: nkitune model qwen3-30b-a3b --target trn2
            """)

    @OptionGroup var deploymentOptions: DeploymentOptions
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var spaceOptions: SpaceOptions

    @Flag(
        help: ArgumentHelp(
            "Estimate each step with the fused blocks (the decode MoE block) where they are faster than the "
                + "calls they replace.",
            discussion: "Without it the estimate is what `export` writes: the exported module does not call "
                + "fused blocks yet. Both are shown either way."))
    var fuse = false

    func run() throws {
        let deployment = try deploymentOptions.deployment()
        let config = deployment.model
        let target = deploymentOptions.target.target
        let tp = deployment.tensorParallel
        let spaces = try spaceOptions.spaces(for: config)
        let cache = try cacheOptions.openCacheForReading()
        let estimator = PhaseEstimator(
            target: target, spaces: spaces, cache: cache,
            backend: try cacheOptions.makeBackend(jobs: 1, cache: cache, target: target))
        Output.line(
            "\(config.name) on \(target.name), tensor parallel \(tp): per rank \(deployment.queryHeads) query heads, "
                + "\(deployment.keyValueHeads) KV head(s), \(deployment.expertColumns) expert columns, "
                + "vocabulary slice \(deployment.vocabularySlice)")
        let estimate = estimator.model(deployment, fusing: fuse)
        for phase in Phase.allCases {
            let title =
                phase == .prefill
                ? "prefill of \(deployment.promptLength) positions"
                : "decode of one token over \(deployment.decodePosition) cached positions"
            Output.line("\n\(phase.rawValue): \(title) (standalone kernel latencies)")
            printPhase(estimate.calls[phase] ?? [])
            for choice in estimate.fused[phase] ?? [] { printFused(choice) }
        }
        Output.line("")
        Output.line(EstimateReport.render(estimate.run, launchOverhead: target.launchOverhead))
    }

    private func printFused(_ choice: FusedChoice) {
        let call = choice.block.call
        let verdict =
            choice.chosen
            ? "the estimate below uses the fused block"
            : fuse ? "the estimate below keeps the calls it replaces" : "--fuse would estimate with it where faster"
        Output.line(
            "\(call.role): \(call.kernel) \(call.problem.key) (\(choice.fused.source)), in the graph "
                + "\(formatLatency(choice.fusedTotal)) per step against \(formatLatency(choice.unfusedTotal)) for "
                + "\(choice.block.replaces.joined(separator: ", ")); \(verdict)")
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
