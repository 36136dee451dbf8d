/// The time of one kernel call inside a compiled graph, where a kernel of ours covers it.
public struct KernelTime: Sendable {
    /// The inventory call.
    public var call: KernelCall
    /// One invocation's time inside the graph, without a standalone launch overhead (ns); nil
    /// when no kernel of ours covers the call (its products then run outside NKI).
    public var latency: Double?

    /// Creates a value with every field given.
    public init(call: KernelCall, latency: Double?) {
        self.call = call
        self.latency = latency
    }

    /// All invocations (ns), or nil.
    public var total: Double? { latency.map { $0 * Double(call.count) } }
}

/// One step of a phase: our kernels back to back plus the costs that are not ours.
public struct StepEstimate: Sendable {
    /// The kernels of the step.
    public var kernels: [KernelTime]
    /// The rest: collectives, embedding, sampling, framework time.
    public var costs: [StepCost]

    /// Creates a value with every field given.
    public init(kernels: [KernelTime], costs: [StepCost]) {
        self.kernels = kernels
        self.costs = costs
    }

    /// Time of our kernels (ns).
    public var kernelTime: Double { kernels.compactMap(\.total).reduce(0, +) }
    /// Time of everything else (ns).
    public var otherTime: Double { costs.map(\.nanoseconds).reduce(0, +) }
    /// The step (ns).
    public var total: Double { kernelTime + otherTime }
    /// Kernel calls no kernel of ours covers.
    public var uncovered: [KernelCall] { kernels.filter { $0.latency == nil }.map(\.call) }
}

/// What the contest would score for one public prompt, estimated.
public struct PromptEstimate: Sendable {
    /// The prompt and its baseline.
    public var prompt: ContestPrompt
    /// Time to first token: the prefill step (ns).
    public var timeToFirstToken: Double
    /// One decode step (ns).
    public var decodePerToken: Double
    /// Tokens generated after the prompt.
    public var generatedTokens: Int
    /// Prompt plus generated tokens, over which the harness computes throughput.
    public var sequenceTokens: Int
    /// The NKI share of multiply-accumulates (0 to 1).
    public var nkiRatio: Double

    /// End-to-end latency (ns): the prefill, which yields the first token, then a decode step
    /// for each further token.
    public var latency: Double { timeToFirstToken + Double(max(0, generatedTokens - 1)) * decodePerToken }
    /// Tokens per second, prompt included, as the harness counts them.
    public var throughput: Double { latency > 0 ? Double(sequenceTokens) / (latency / 1e9) : 0 }
    /// The contest's score for the prompt, accuracy assumed passed: (baseline latency / latency)
    /// x (throughput / baseline throughput) x (1 + NKI ratio).
    public var score: Double {
        guard latency > 0 else { return 0 }
        return prompt.baselineLatencyMilliseconds / (latency / 1e6) * (throughput / prompt.baselineThroughput)
            * (1 + nkiRatio)
    }
}

/// What one generation of the model costs on a deployment, and what the contest would score.
///
/// ```swift
/// let estimate = RunEstimate(deployment: deployment, prefill: prefill, decode: decode)
/// print(estimate.totalScore)
/// ```
public struct RunEstimate: Sendable {
    /// The deployment.
    public var deployment: Deployment
    /// The prefill step.
    public var prefill: StepEstimate
    /// One decode step.
    public var decode: StepEstimate
    /// Roles whose kernels the deployed model actually calls as NKI (the exported module's
    /// wiring); nil when every covered call counts.
    public var nkiRoles: Set<String>?

    /// Creates a value with every field given.
    public init(deployment: Deployment, prefill: StepEstimate, decode: StepEstimate, nkiRoles: Set<String>? = nil) {
        self.deployment = deployment
        self.prefill = prefill
        self.decode = decode
        self.nkiRoles = nkiRoles
    }

    /// Multiply-accumulates in NKI kernels over all of both graphs' products, each graph counted
    /// once (rank 0, the one bucket), as the harness counts them: a call counts as NKI when a
    /// kernel of ours covers it and (given ``nkiRoles``) the model calls it as one.
    public var nkiRatio: Double {
        let calls = prefill.kernels + decode.kernels
        let all = calls.reduce(0) { $0 + $1.call.macs }
        let nki = calls.filter { time in time.latency != nil && (nkiRoles?.contains(time.call.role) ?? true) }
            .reduce(0) { $0 + $1.call.macs }
        return all > 0 ? Double(nki) / Double(all) : 0
    }

    /// Per public prompt of the target (empty where the contest published none).
    public var prompts: [PromptEstimate] {
        let ratio = nkiRatio
        return (ContestPrompt.published(target: deployment.target) ?? []).map { prompt in
            PromptEstimate(
                prompt: prompt, timeToFirstToken: prefill.total, decodePerToken: decode.total,
                generatedTokens: deployment.sequenceLength - prompt.promptTokens,
                sequenceTokens: deployment.sequenceLength, nkiRatio: ratio)
        }
    }

    /// The estimated contest score: the sum over the public prompts.
    public var totalScore: Double { prompts.map(\.score).reduce(0, +) }

    /// Time of all scored generations, one per public prompt (ns): what tuning minimises.
    public var scoredTime: Double { prompts.map(\.latency).reduce(0, +) }

    /// How many times each phase runs over one generation per public prompt (prefill once per
    /// prompt, decode once per token after the first): the weights of a kernel's time in the
    /// scored total. Without published prompts, one generation of a half-length prompt.
    public static func phaseRuns(_ deployment: Deployment) -> [Phase: Double] {
        let prompts =
            ContestPrompt.published(target: deployment.target)?.map(\.promptTokens)
            ?? [deployment.sequenceLength / 2]
        let decodeSteps = prompts.map { max(0, deployment.sequenceLength - $0 - 1) }.reduce(0, +)
        return [.prefill: Double(prompts.count), .decode: Double(decodeSteps)]
    }
}
