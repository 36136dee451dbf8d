/// The whole MoE block of a decode step as one kernel: the residual add and post-attention RMSNorm
/// (``RMSNormTemplate``), the router (fp32 logits, softmax, top-k, renormalised weights,
/// ``RouterTemplate``), and the k selected experts fetched by their run-time index and summed with
/// their weights (``ExpertMLPDecodeTemplate``). It returns the residual sum and the experts' sum,
/// not their sum: under tensor parallelism each rank holds a slice of every expert's columns, so
/// the experts' sums of the ranks are all-reduced before the residual is added, as the unfused
/// model does.
///
/// The stages are chained in one program (``ProgramChain``): normalised rows, routing weights and
/// expert indices, and the experts' sum pass through HBM inside the kernel, or stay in SBUF where
/// `handoff` copies them on chip (``StageHandoff``), so the block pays one launch. The router's
/// weights load from the kernel's start, right after the norm's inputs (its
/// ``KernelProgram/prefetch``), and overlap the norm; the experts' weights wait only for the
/// expert indices. Every stage
/// rounds exactly where it does alone, so the block's output is bit for bit the unfused chain's.
/// Its parameters are the stages' own, prefixed (`norm_`, `router_`, `experts_`), and `handoff`.
/// On two cores (`lnc=2`, `experts_split` other than `none`) the norm and router run on both
/// cores, each on its own copy of their outputs (both write the same residual sum out), and the
/// experts split as in ``ExpertMLPDecodeTemplate``: by experts with partial sums (with stationary
/// weights and bf16 sums, each core adds its sum into the other's half of the output by an
/// accumulating DMA), or by experts for gate/up and by hidden columns for the down projection
/// (`experts_hidden`), the cores exchanging activations instead of sums.
///
/// Arguments: `x [T, H]` (the attention block's output), `residual [T, H]`, `norm_weight [1, H]`,
/// `router_weight [H, E]`, `gate_up [E, H, 2I]`, `down [E, I, H]`. Outputs: `residual_sum [T, H]`
/// (`x + residual`, the next residual) and `experts_out [T, H]` (this rank's weighted sum of experts).
public struct MoEBlockDecodeTemplate: StagedTemplate {
    /// The block with a model's numbers.
    public init(epsilon: Float, normaliseTopK: Bool) {
        norm = RMSNormTemplate(epsilon: epsilon)
        router = RouterTemplate(normaliseTopK: normaliseTopK)
    }

    let norm: RMSNormTemplate
    let router: RouterTemplate
    let experts = ExpertMLPDecodeTemplate()

    /// The identifier on the command line and in cache keys.
    public let id = "moe-block-decode"
    /// One line on what the kernel computes.
    public let summary =
        "decode MoE block in one kernel: residual + RMSNorm, router, top-k experts; returns residual sum and experts' sum"

    /// The stages (norm, router, experts), each with the prefix of its parameters.
    public var stages: [(prefix: String, template: any KernelTemplate)] {
        [("norm_", norm), ("router_", router), ("experts_", experts)]
    }

    /// The problem's dimensions and options, in order (those of ``ExpertMLPDecodeTemplate``).
    public var problemFields: [ProblemField] { experts.problemFields }

    /// `handoff`, after the stages' parameters.
    public var blockParameters: [Parameter] { [StageHandoff.key.parameter] }

    /// The problem of `tokens` decode tokens through this block.
    public static func problem(
        tokens: Int, hidden: Int, columns: Int, experts: Int, k: Int, cores: LogicalCoreSize = .one
    ) -> Problem {
        ExpertMLPDecodeTemplate.problem(
            tokens: tokens, hidden: hidden, columns: columns, experts: experts, k: k, cores: cores)
    }

    /// Small problems the test suite checks this template on.
    public var checkProblems: [String] { ["T=1,H=256,I=96,E=16,k=4", "T=2,H=128,I=64,E=8,k=2,lnc=2"] }
    /// A problem to show this template on.
    public var demoProblem: String { "T=1,H=2048,I=192,E=128,k=8,lnc=2" }

    /// The stages' problems: norm (with residual), router, experts.
    public func problems(_ problem: Problem) -> (norm: Problem, router: Problem, experts: Problem) {
        let (tokens, hidden, _, experts, k) = ExpertShape(problem).dimensions
        return (
            RMSNormTemplate.problem(tokens: tokens, hidden: hidden, residual: true),
            RouterTemplate.problem(tokens: tokens, hidden: hidden, experts: experts, k: k), problem
        )
    }

    /// The stages' problems in ``stages`` order.
    public func stageProblems(_ problem: Problem) -> [Problem] {
        let problems = problems(problem)
        return [problems.norm, problems.router, problems.experts]
    }

    /// A stage's own configuration, read from the block's prefixed parameters.
    public func configuration(of stage: Int, _ configuration: Configuration, for problem: Problem) -> Configuration {
        let (prefix, template) = stages[stage]
        let names = template.parameters.map(\.name)
        return Configuration(names: names, values: names.map { configuration[prefix + $0] })
    }

    /// Multiply-accumulates of one call: the router's and the experts'.
    public func macs(for problem: Problem) -> Int {
        let problems = problems(problem)
        return router.macs(for: problems.router) + experts.macs(for: problems.experts)
    }

    /// Random logical inputs: attention output, residual, norm weight, router weight, expert weights.
    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let (tokens, hidden, columns, expertCount, _) = ExpertShape(problem).dimensions
        return [
            HostTensor.random([tokens, hidden], dtype: .bf16, seed: seed),
            HostTensor.random([tokens, hidden], dtype: .bf16, seed: seed &+ 1),
            HostTensor.random([1, hidden], dtype: .bf16, seed: seed &+ 2),
            HostTensor.random([hidden, expertCount], dtype: .bf16, seed: seed &+ 3),
            HostTensor.random([expertCount, hidden, 2 * columns], dtype: .bf16, seed: seed &+ 4),
            HostTensor.random([expertCount, columns, hidden], dtype: .bf16, seed: seed &+ 5),
        ]
    }

    /// The stages' references chained: the residual sum, then the experts' weighted sum.
    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        let problems = problems(problem)
        let normed = norm.reference(for: problems.norm, inputs: [inputs[0], inputs[1], inputs[2]])
        let routed = router.reference(for: problems.router, inputs: [normed[0], inputs[3]])
        let summed = experts.reference(
            for: problems.experts, inputs: [normed[0], inputs[4], inputs[5], routed[1], routed[0]])
        return [normed[1], summed[0]]
    }

    /// The experts stage's reduction of H, and experts cut to at least the router's 8 candidates.
    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem {
        let shape = ExpertShape(problem)
        let reduced = experts.checkProblem(
            for: problem, configuration: self.configuration(of: 2, configuration, for: problem))
        return reduced.with(ExpertShape.experts, min(shape.experts, max(8, shape.k)))
    }
}
