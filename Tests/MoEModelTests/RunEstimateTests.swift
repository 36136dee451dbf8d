import KernelSpace
import MoEModel
import Testing

@Suite struct RunEstimateTests {
    let deployment = Deployment(model: .qwen3MoE30BA3B, target: "trn2")

    @Test func theDefaultDeploymentIsTheContestHarnesss() {
        #expect(deployment.tensorParallel == 4 && deployment.logicalCoreSize == 2 && deployment.batch == 1)
        #expect(deployment.isBucketed)
        let prefill = deployment.inventory(.prefill)
        #expect(prefill.first { $0.role == "qkv projection" }?.problem["M"] == .int(640))
        #expect(prefill.first { $0.kernel == "attention-prefill" }?.problem["S"] == .int(640))
        #expect(deployment.inventory(.decode).first { $0.kernel == "attention-decode" }?.problem["S"] == .int(640))
        let exact = Deployment(model: .qwen3MoE30BA3B, target: "trn2", promptLength: 100)
        #expect(!exact.isBucketed)
        #expect(exact.inventory(.prefill).first { $0.role == "qkv projection" }?.problem["M"] == .int(100))
        #expect(exact.inventory(.decode).first { $0.kernel == "attention-decode" }?.problem["S"] == .int(100))
        #expect(
            Deployment(model: .qwen3MoE30BA3B, target: "trn2", decodePosition: 641).problem
                == "decode position 641 must be between 1 and the sequence length 640")
    }

    /// Every kernel at `latency` ns per call.
    func estimate(latency: Double?, uncovered: String? = nil) -> RunEstimate {
        func step(_ phase: Phase) -> StepEstimate {
            StepEstimate(
                kernels: deployment.inventory(phase).map {
                    KernelTime(call: $0, latency: $0.role == uncovered ? nil : latency)
                },
                costs: deployment.stepCosts(phase, rankBandwidth: 725))
        }
        return RunEstimate(deployment: deployment, prefill: step(.prefill), decode: step(.decode))
    }

    @Test func promptFiguresFollowTheHarnesssArithmetic() throws {
        let run = estimate(latency: 1_000)
        let decodeCalls = deployment.inventory(.decode).reduce(0) { $0 + $1.count }
        #expect(run.decode.kernelTime == Double(decodeCalls) * 1_000)
        let other = run.decode.costs.map(\.nanoseconds).reduce(0, +)
        #expect(run.decode.total == Double(decodeCalls) * 1_000 + other)
        let prompts = run.prompts
        #expect(prompts.map(\.prompt.promptTokens) == [18, 126, 43, 10, 402])
        let first = try #require(prompts.first)
        // 622 tokens generated: the first by prefill, 621 decode steps.
        let latency = run.prefill.total + 621 * run.decode.total
        #expect(abs(first.latency - latency) < 1e-3)
        let throughput = 640 / (latency / 1e9)
        let score = 12_498.0 / (latency / 1e6) * (throughput / 51.86) * 2
        #expect(abs(first.score - score) < 1e-9 * score)
        #expect(abs(run.totalScore - prompts.map(\.score).reduce(0, +)) < 1e-9)
        // A faster step scores more, about with the square of the speed-up.
        let faster = estimate(latency: 500)
        #expect(faster.totalScore > run.totalScore)
        #expect(faster.scoredTime < run.scoredTime)
    }

    @Test func theNKIRatioCountsBothGraphsOnce() {
        #expect(estimate(latency: 1).nkiRatio == 1)
        let withoutHead = estimate(latency: 1, uncovered: "lm_head (last token)")
        let calls = deployment.inventory(.prefill) + deployment.inventory(.decode)
        let all = calls.reduce(0) { $0 + $1.macs }
        let head = calls.filter { $0.role == "lm_head (last token)" }.reduce(0) { $0 + $1.macs }
        #expect(head > 0)
        #expect(abs(withoutHead.nkiRatio - Double(all - head) / Double(all)) < 1e-12)
        #expect(withoutHead.decode.uncovered.map(\.role) == ["lm_head (last token)"])
        // Only the roles the deployed model calls as NKI count.
        var wired = estimate(latency: 1)
        wired.nkiRoles = Set(calls.map(\.role)).subtracting(["causal attention", "decode attention"])
        let attention = calls.filter { $0.role.hasSuffix("attention") }.reduce(0) { $0 + $1.macs }
        #expect(attention > 0)
        #expect(abs(wired.nkiRatio - Double(all - attention) / Double(all)) < 1e-12)
    }

    @Test func stepCostsNameTheirSourcesAndScaleWithTensorParallelism() {
        let decode = deployment.stepCosts(.decode, rankBandwidth: 725)
        let allReduce = decode.first { $0.name.hasPrefix("tensor-parallel all-reduces") }
        #expect(allReduce != nil && allReduce!.nanoseconds >= 2 * 48 * Deployment.collectiveLatency)
        #expect(decode.allSatisfy { !$0.source.isEmpty })
        #expect(decode.contains { $0.nanoseconds == Deployment.frameworkTimePerStep })
        let single = Deployment(model: .qwen3MoE30BA3B, target: "trn2", tensorParallel: 1)
        #expect(!single.stepCosts(.decode, rankBandwidth: 725).contains { $0.name.contains("all-") })
        // Prefill moves 640 rows through each all-reduce.
        let prefill = deployment.stepCosts(.prefill, rankBandwidth: 725)
        #expect(prefill[0].nanoseconds > decode[0].nanoseconds)
    }

    @Test func tasksAreTheDistinctPairsWeightedByScoredRuns() {
        let tasks = deployment.tasks()
        let fused = deployment.fusedBlocks(.decode).map(\.call)
        #expect(fused.map(\.kernel) == ["attention-block-decode", "moe-block-decode"])
        #expect(deployment.fusedBlocks(.prefill).isEmpty)
        let calls = deployment.inventory(.prefill) + deployment.inventory(.decode) + fused
        let distinct = Set(calls.map { "\($0.kernel) \($0.problem.key)" })
        #expect(tasks.count == distinct.count)
        #expect(Set(tasks.map(\.name)) == distinct)
        let runs = RunEstimate.phaseRuns(deployment)
        #expect(runs[.prefill] == 5)
        #expect(runs[.decode] == Double([18, 126, 43, 10, 402].map { 640 - $0 - 1 }.reduce(0, +)))
        let expected =
            deployment.inventory(.prefill).reduce(0.0) { $0 + Double($1.count) * 5 }
            + (deployment.inventory(.decode) + fused).reduce(0.0) { $0 + Double($1.count) * runs[.decode]! }
        #expect(abs(tasks.map(\.weight).reduce(0, +) - expected) < 1e-6)
        #expect(zip(tasks, tasks.dropFirst()).allSatisfy { $0.weight >= $1.weight })
        // The final RMSNorm (one token) is the decode input RMSNorm's problem: one task, both roles.
        let norm = tasks.first { $0.name == "rmsnorm T=1,H=2048,residual=0,lnc=\(deployment.logicalCoreSize)" }
        #expect(norm?.roles.count == 3)
    }
}
