import Foundation
import MoEModel

/// `manifest.json`: per task the problem, configuration, metrics and provenance, and the model
/// estimates, as sorted, indented JSON.
public enum ExportManifest {
    private struct Kernel: Encodable {
        var task: String
        var kernel: String
        var problem: String
        var configuration: String
        var file: String
        var roles: [String]
        var weight: Double
        var source: String
        var latencyNanoseconds: Double?
        var untunedLatencyNanoseconds: Double?
        var busyNanoseconds: [String: Double]
        var check: String?
        var measuredAt: String?
        var inModule: Bool
    }

    private struct Estimate: Encodable {
        var prefillNanoseconds: Double
        var decodeNanoseconds: Double
        var scoredNanoseconds: Double
        var score: Double
        var nkiRatio: Double
        var prompts: [Prompt]
    }

    private struct Prompt: Encodable {
        var index: Int
        var promptTokens: Int
        var timeToFirstTokenNanoseconds: Double
        var decodePerTokenNanoseconds: Double
        var latencyNanoseconds: Double
        var throughput: Double
        var score: Double
    }

    private struct Document: Encodable {
        var model: String
        var target: String
        var deployment: String
        var backend: String
        var toolchain: String
        var exportedAt: String
        var kernels: [Kernel]
        var estimate: Estimate
        var untunedEstimate: Estimate
        var accuracy: [String: Double]?
    }

    /// The manifest's text; `accuracy` is the worst margin per rule of the accuracy gate, if run.
    public static func render(_ export: ModelExport, accuracy: [String: Double]? = nil) -> String {
        func estimate(_ run: RunEstimate) -> Estimate {
            Estimate(
                prefillNanoseconds: run.prefill.total, decodeNanoseconds: run.decode.total,
                scoredNanoseconds: run.scoredTime, score: run.totalScore, nkiRatio: run.nkiRatio,
                prompts: run.prompts.map {
                    Prompt(
                        index: $0.prompt.index, promptTokens: $0.prompt.promptTokens,
                        timeToFirstTokenNanoseconds: $0.timeToFirstToken, decodePerTokenNanoseconds: $0.decodePerToken,
                        latencyNanoseconds: $0.latency, throughput: $0.throughput, score: $0.score)
                })
        }
        let document = Document(
            model: export.deployment.model.name, target: export.target.name, deployment: export.deployment.key,
            backend: export.backend, toolchain: export.toolchain, exportedAt: export.date,
            kernels: export.kernels.map { kernel in
                Kernel(
                    task: kernel.task.name, kernel: kernel.task.template.id, problem: kernel.task.problem.key,
                    configuration: kernel.configuration.key, file: kernel.fileName, roles: kernel.task.roles,
                    weight: kernel.task.weight, source: kernel.source, latencyNanoseconds: kernel.latency,
                    untunedLatencyNanoseconds: kernel.untunedLatency,
                    busyNanoseconds: Dictionary(
                        kernel.busy.map { ($0.key.rawValue, $0.value) }, uniquingKeysWith: { first, _ in first }),
                    check: kernel.check?.rawValue, measuredAt: kernel.measuredAt,
                    inModule: kernel.task.roles.contains { ContestModule.wiredRoles.contains(ContestModule.role($0)) })
            },
            estimate: estimate(export.estimate.run), untunedEstimate: estimate(export.untunedEstimate.run),
            accuracy: accuracy)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = (try? encoder.encode(document)) ?? Data("{}".utf8)
        return (String(data: data, encoding: .utf8) ?? "{}") + "\n"
    }
}
