import Autotune
import CostModel
import Foundation
import KernelSpace
import MoEModel
import Testing

/// `tune-model` as a process: killed at several moments and started again, interrupted with
/// Ctrl-C, and run twice at once on one cache.
@Suite(.serialized) struct TuneModelProcessTests {
    static let budget = 300
    static let slice = 16

    func arguments(_ cache: String, budget: Int = budget) -> [String] {
        [
            "tune-model", "qwen3-30b-a3b", "--budget", "\(budget)", "--slice", "\(Self.slice)", "--jobs", "1",
            "--verify", "1", "--cache", cache,
        ]
    }

    /// What the run spent by the database's own count, and the rows it holds for the model's tasks.
    func ledger(_ path: String) throws -> (spent: Int, rows: Int, estimates: Int) {
        let cache = try TimingCache(path: path, mode: .readOnly)
        let deployment = Deployment(model: .qwen3MoE30BA3B, target: "trn2")
        let backend = ModelBackend()
        let request = ModelTuneRequest(deployment: deployment, target: .trn2, spaces: [:])
        let run = ModelTuner(backend: backend, cache: cache).runKey(request)
        let rows = try deployment.tasks().reduce(0) { total, task in
            total
                + (try cache.configurations(
                    in: CacheScope(template: task.template, problem: task.problem, target: .trn2, backend: backend)
                ).count)
        }
        return (try cache.spending(of: run).measurements, rows, try cache.estimates(of: run).count)
    }

    @Test(arguments: [SIGINT, SIGKILL])
    func killedAndStartedAgainItSpendsTheBudgetOnce(signal: Int32) throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let executable = try #require(nkituneExecutable)
        let cache = "cut.sqlite"
        for delay in [0.2, 0.6, 1.2] {
            let cut = try RunningProcess(executable, arguments(cache), in: directory).signal(
                signal, afterStartBy: delay)
            if signal == SIGINT {
                #expect(!cut.signalled && [0, 130].contains(cut.status), "after \(delay) s: \(cut.status)")
                if cut.status == 130 {
                    #expect(cut.output.contains("interrupted: every finished variant and estimate is saved"))
                    #expect(cut.output.contains("ended: interrupted"))
                }
            }
            // Whatever was stored was counted, in the same transaction.
            let now = try ledger("\(directory)/\(cache)")
            #expect(now.spent == now.rows, "after a signal at \(delay) s")
            #expect(now.spent <= Self.budget)
        }
        let resumed = try runTool(arguments(cache), in: directory, seconds: 900)
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(resumed.error.contains("continuing: "))
        #expect(resumed.output.contains("ended: the measurement budget is spent"))
        let final = try ledger("\(directory)/\(cache)")
        #expect(final.spent == Self.budget && final.rows == Self.budget)
        #expect(final.estimates >= 2)
        // The model estimate reads the same cache the run filled.
        let model = try runTool(["model", "qwen3-30b-a3b", "--cache", cache], in: directory)
        #expect(model.status == 0 && model.output.contains("tuned"))
    }

    @Test func twoRunsAtOnceShareTheBudgetAndMeasureNothingTwice() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let executable = try #require(nkituneExecutable)
        let runs = try (0..<2).map { _ in try RunningProcess(executable, arguments("shared.sqlite"), in: directory) }
        for run in runs {
            // Two debug-built runs share two cores with the rest of the suite: about 2 minutes
            // alone, over 5 when the machine is busy.
            let result = run.wait(seconds: 900)
            #expect(result.status == 0, "\(result.error)")
        }
        let final = try ledger("\(directory)/shared.sqlite")
        #expect(final.spent == final.rows, "a variant was measured twice")
        #expect(final.spent >= Self.budget && final.spent <= Self.budget + Self.slice)
    }
}
