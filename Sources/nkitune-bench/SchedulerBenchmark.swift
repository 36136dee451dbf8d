import Autotune
import CostModel
import Foundation
import KernelSpace
import MoEModel

/// The estimated scored time (one generation per public prompt, trn2 contest deployment) reached
/// by `tune-model` after the same measurement budget with the gradient scheduler and with
/// round-robin, each from an empty cache, averaged over seeds.
func schedulerBenchmark(budgets: [Int], seeds: [UInt64]) throws {
    let deployment = Deployment(model: .qwen3MoE30BA3B, target: "trn2")
    let spaces = Dictionary(
        uniqueKeysWithValues: deployment.model.kernels.map { ($0.id, SearchSpace($0)) })
    print(
        "\nTask scheduler: estimated scored time after a budget (trn2, 5 public prompts; mean of \(seeds.count) seeds)")
    print(
        [
            pad("budget", 7, right: true), pad("policy", 12), pad("scored time", 12, right: true),
            pad("decode/token", 13, right: true), pad("prefill", 11, right: true), pad("score", 7, right: true),
            pad("vs round-robin", 15, right: true),
        ].joined(separator: " "))
    for budget in budgets {
        var results: [SchedulePolicy: (time: Double, decode: Double, prefill: Double, score: Double)] = [:]
        for policy in [SchedulePolicy.roundRobin, .gradient] {
            var sums = (time: 0.0, decode: 0.0, prefill: 0.0, score: 0.0)
            for seed in seeds {
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                    "nkitune-sched-\(UUID().uuidString)")
                defer { try? FileManager.default.removeItem(at: directory) }
                let cache = try TimingCache(path: directory.appendingPathComponent("bench.sqlite").path)
                let request = ModelTuneRequest(
                    deployment: deployment, target: .trn2, spaces: spaces, policy: policy, budget: budget, slice: 32,
                    seed: seed, jobs: cores, verify: 0)
                let end = try ModelTuner(backend: ModelBackend(slots: cores), cache: cache).run(request).end
                sums = (
                    sums.time + end.scoredTime, sums.decode + end.decode, sums.prefill + end.prefill,
                    sums.score + end.score
                )
            }
            let n = Double(seeds.count)
            results[policy] = (sums.time / n, sums.decode / n, sums.prefill / n, sums.score / n)
        }
        for policy in [SchedulePolicy.roundRobin, .gradient] {
            let result = results[policy]!
            let baseline = results[.roundRobin]!.time
            print(
                [
                    pad(String(budget), 7, right: true), pad(policy.rawValue, 12),
                    pad(String(format: "%.2f s", result.time / 1e9), 12, right: true),
                    pad(String(format: "%.3f ms", result.decode / 1e6), 13, right: true),
                    pad(String(format: "%.1f ms", result.prefill / 1e6), 11, right: true),
                    pad(String(format: "%.2f", result.score), 7, right: true),
                    pad(String(format: "%.3f", result.time / baseline), 15, right: true),
                ].joined(separator: " "))
        }
    }
}
