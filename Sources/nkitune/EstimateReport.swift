import Foundation
import MoEModel

/// The text of a whole-model estimate: both steps, the costs that are not our kernels with their
/// sources, and the contest's figures per public prompt.
enum EstimateReport {
    static func render(_ run: RunEstimate, launchOverhead: Double) -> String {
        var lines = [
            String(
                format: "one generation as the harness runs it (kernels back to back: the standalone launch "
                    + "overhead of %.0f us is not paid per kernel)", launchOverhead / 1000),
            String(
                format: "prefill step %@ (kernels %@, other %@); decode step %@ (kernels %@, other %@)",
                formatLatency(run.prefill.total), formatLatency(run.prefill.kernelTime),
                formatLatency(run.prefill.otherTime), formatLatency(run.decode.total),
                formatLatency(run.decode.kernelTime), formatLatency(run.decode.otherTime)),
        ]
        let uncovered = Set((run.prefill.uncovered + run.decode.uncovered).map(\.role))
        if !uncovered.isEmpty {
            lines.append("not estimated (no kernel of ours): " + uncovered.sorted().joined(separator: ", "))
        }
        let decodeCosts = Dictionary(run.decode.costs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let costRows = run.prefill.costs.map { cost in
            [
                cost.name, formatLatency(cost.nanoseconds), formatLatency(decodeCosts[cost.name]?.nanoseconds),
                decodeCosts[cost.name]?.source ?? cost.source,
            ]
        }
        lines.append("")
        lines.append(
            TableRenderer.render(
                headers: ["not our kernels", "prefill", "decode", "source (decode)"], rows: costRows,
                rightAligned: [1, 2]))
        let prompts = run.prompts
        guard !prompts.isEmpty else {
            lines.append("\nno published contest baselines for \(run.deployment.target): no score")
            return lines.joined(separator: "\n")
        }
        let rows = prompts.map { prompt -> [String] in
            [
                String(prompt.prompt.index), String(prompt.prompt.promptTokens),
                formatLatency(prompt.timeToFirstToken), formatLatency(prompt.decodePerToken),
                String(format: "%.0f ms", prompt.latency / 1e6),
                String(format: "%.0f ms", prompt.prompt.baselineLatencyMilliseconds),
                String(format: "%.1f", prompt.throughput), String(format: "%.1f", prompt.prompt.baselineThroughput),
                String(format: "%.2f", prompt.score),
            ]
        }
        lines.append("")
        lines.append(
            TableRenderer.render(
                headers: [
                    "prompt", "tokens", "TTFT", "decode/token", "latency", "baseline", "tokens/s", "baseline",
                    "score",
                ], rows: rows, rightAligned: Set(0...8)))
        lines.append(
            String(
                format: "estimated score %.2f over %d public prompts (accuracy assumed passed; NKI MAC ratio %.3f)",
                run.totalScore, prompts.count, run.nkiRatio))
        return lines.joined(separator: "\n")
    }
}
