import Autotune
import CostModel
import Foundation
import KernelSpace
import MoEModel
import Testing

@Suite struct ModelTunerTests {
    let deployment = Deployment(model: .qwen3MoE30BA3B, target: "trn2")
    var spaces: [String: SearchSpace] {
        Dictionary(uniqueKeysWithValues: deployment.model.kernels.map { ($0.id, SearchSpace($0)) })
    }

    func request(budget: Int, policy: SchedulePolicy = .gradient) -> ModelTuneRequest {
        ModelTuneRequest(
            deployment: deployment, target: .trn2, spaces: spaces, policy: policy, budget: budget, slice: 16, jobs: 2,
            verify: 0)
    }

    /// Rows stored for the model's tasks, over all of them.
    func storedRows(_ cache: TimingCache, _ tuner: ModelTuner) throws -> Int {
        try deployment.tasks().reduce(0) { total, task in
            total
                + (try cache.configurations(
                    in: CacheScope(
                        template: task.template, problem: task.problem, target: .trn2, backend: tuner.backend)
                ).count)
        }
    }

    @Test func aBudgetIsSpentExactlyAcrossRestarts() throws {
        let cache = try TimingCache(path: temporaryPath("cache.sqlite"))
        let tuner = ModelTuner(backend: ModelBackend(slots: 2), cache: cache)
        let first = try tuner.run(request(budget: 120))
        #expect(first.ending == .budget)
        #expect(first.measurements == 120)
        let run = tuner.runKey(request(budget: 120))
        #expect(try cache.spending(of: run).measurements == 120)
        #expect(try storedRows(cache, tuner) == 120)
        // The start is stored once, then an estimate per round and one at the end.
        let history = try cache.estimates(of: run)
        #expect(history.count >= 3)
        #expect(history.first == first.start)
        #expect(history.last == first.end)
        #expect(first.end.scoredTime < first.start.scoredTime)
        #expect(try cache.slices(of: run).count == first.slices)
        // The same budget again: nothing left to spend.
        let again = try tuner.run(request(budget: 120))
        #expect(again.ending == .budget && again.measurements == 0)
        #expect(again.start == first.start)
        // A larger budget continues from what was spent.
        let more = try tuner.run(request(budget: 200))
        #expect(more.measurements == 80)
        #expect(try storedRows(cache, tuner) == 200)
        #expect(more.end.scoredTime <= first.end.scoredTime)
    }

    @Test func leasesKeepLiveHoldersAndPassOnDeadOnes() throws {
        let cache = try TimingCache(path: temporaryPath("cache.sqlite"))
        let host = ProcessInfo.processInfo.hostName
        let parent = LeaseOwner(host: host, pid: getppid())
        #expect(try cache.lease("task", of: "run", for: 60, owner: parent))
        #expect(try !cache.lease("task", of: "run", for: 60))
        // A holder on another host keeps its lease until it expires.
        let remote = LeaseOwner(host: "elsewhere", pid: 1)
        #expect(try cache.lease("other", of: "run", for: 60, owner: remote))
        #expect(try !cache.lease("other", of: "run", for: 60))
        #expect(try cache.lease("expired", of: "run", for: -1, owner: remote))
        #expect(try cache.lease("expired", of: "run", for: 60))
        // A process that exited (a finished child) holds nothing.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = LeaseOwner(host: host, pid: child.processIdentifier)
        #expect(try cache.lease("dead", of: "run", for: 60, owner: dead))
        #expect(try cache.lease("dead", of: "run", for: 60))
        try cache.release("dead", of: "run")
        #expect(try cache.lease("dead", of: "run", for: 60, owner: parent))
    }
}
