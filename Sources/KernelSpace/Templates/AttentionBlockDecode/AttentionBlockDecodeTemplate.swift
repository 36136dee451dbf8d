/// The attention block of a decode step as one kernel, for one token: the input RMSNorm fused into
/// the q/k/v projection (``LinearTemplate`` with `norm=1`), per-head q/k RMSNorm and RoPE
/// (``QKNormRopeTemplate``, with the caller's `cos`/`sin` rows for the token's position), the new
/// key and value written into the KV cache in place at position `S - 1`, attention of the query
/// heads over the `S` cached positions (``AttentionDecodeTemplate``), and the output projection.
/// The value is written before the attention; the attention takes the new key from the rotation
/// (transposed with the queries, its scores in place of the cache's stale column), and the key is
/// written after it, so the attention's K loads wait for no write.
///
/// The stages are chained in one program (``ProgramChain``); q, k and v are column ranges of the
/// projection's one-row output, and the heads' `[heads, d]` rows are the same elements as a
/// `[1, heads * d]` row, so the stages pass them through flat HBM tensors inside the kernel. Every
/// stage rounds exactly where it does alone, so the block's output is bit for bit the unfused
/// chain's. Parameters are the stages' own, prefixed (`qkv_`, `rope_`, `attention_`, `o_`), and
/// `o_weights`: the output projection's weights block by block, or resident in SBUF and loaded
/// from an earlier stage's start on a DMA stream of their own (``ProgramChain/Stage/prefetchAt``),
/// and `handoff` (``StageHandoff``: an intermediate copied on chip where the tiles agree). On two
/// cores (`lnc=2`) each stage splits as its template does (columns, heads) or runs on both cores on
/// its own copy; a barrier separates a split stage from a stage that reads all of its output.
///
/// Arguments: `x [1, H]`, `w_qkv [H, (heads + 2 kv_heads) d]`, `norm_weight [1, H]`,
/// `q_norm_weight [1, d]`, `k_norm_weight [1, d]`, `cos [1, d]`, `sin [1, d]`, `k_cache`
/// (`[kv_heads S, d]`, or `[kv_heads d, S]` when `attention_k_layout=pretransposed`),
/// `v_cache [kv_heads S, d]`, `w_o [heads d, H]`. Output: `out [1, H]`; the caches' row `S - 1` of
/// each KV head is written in place.
public struct AttentionBlockDecodeTemplate: StagedTemplate {
    /// The block with a model's numbers.
    public init(epsilon: Float, ropeTheta: Double) {
        qkv = LinearTemplate(
            id: "qkv", summary: "q/k/v projection with the input RMSNorm fused", normEpsilon: epsilon,
            checkProblems: [], demoProblem: "M=1,K=256,N=384,norm=1")
        rope = QKNormRopeTemplate(epsilon: epsilon, ropeTheta: ropeTheta)
    }

    let qkv: LinearTemplate
    let rope: QKNormRopeTemplate
    let attention = AttentionDecodeTemplate()
    let output = LinearTemplate(
        id: "o-proj", summary: "attention output projection", checkProblems: [], demoProblem: "M=1,K=256,N=512")

    /// The identifier on the command line and in cache keys.
    public let id = "attention-block-decode"
    /// One line on what the kernel computes.
    public let summary =
        "decode attention block in one kernel: RMSNorm + qkv, q/k norm + RoPE, KV cache write, attention, o-proj"

    static let hidden = SizeField("H")

    /// The stages (projection, norm and rotation, attention, output projection), each with the
    /// prefix of its parameters.
    public var stages: [(prefix: String, template: any KernelTemplate)] {
        [("qkv_", qkv), ("rope_", rope), ("attention_", attention), ("o_", output)]
    }

    /// The hidden size `H`, then the attention problem (`S`, `heads`, `kv_heads`, `d`, `lnc`).
    public var problemFields: [ProblemField] { [Self.hidden.field] + AttentionShape.fields }

    /// Stage parameters with one sensible value at one token, fixed in the block rather than
    /// searched: the projections' row tiling (M=1), the q/k rotation's token tile (T=1), the
    /// fused norm's layouts and accumulator (``LinearTemplate`` requires them with `norm=1`), and
    /// the q/k/v weights loaded block by block (resident, they would only delay the first products),
    /// and the output projection's accumulator in fp32 (one token's sums are few).
    static let fixed: [[String: ParameterValue]] = [
        [
            LinearTemplate.tile.m.parameter.name: .int(32), LinearTemplate.block.m.parameter.name: .int(1),
            LinearTemplate.xLayout.parameter.name: .choice(OperandLayout.tensorTranspose.rawValue),
            LinearTemplate.kOrder.parameter.name: .choice(ContractionOrder.interleaved.rawValue),
            LinearTemplate.accumulatorType.parameter.name: .choice(AccumulatorType.fp32.rawValue),
            LinearTemplate.wResident.parameter.name: .choice(Toggle.off.rawValue),
        ],
        [QKNormRopeTemplate.tileT.parameter.name: .int(32)],
        [:],
        [
            LinearTemplate.tile.m.parameter.name: .int(32), LinearTemplate.block.m.parameter.name: .int(1),
            LinearTemplate.accumulatorType.parameter.name: .choice(AccumulatorType.fp32.rawValue),
        ],
    ]

    static let weights = ChoiceKey<WeightLoading>(
        "o_weights", WeightLoading.allCases, default: .blocked,
        "output projection's weights: block by block, or all resident in SBUF, loaded in place or at the "
            + "start of the attention, the q/k rotation or the kernel (overlapping the stages between)")

    /// Whether the block sets a stage parameter itself: ``fixed``, the output projection's
    /// `w_resident`, which `o_weights` decides, or the projection's `block_k`, which its `tile_k`
    /// decides (the fused norm needs whole rows: one block covering `H`).
    public func sets(_ stage: Int, _ name: String) -> Bool {
        Self.fixed[stage][name] != nil || (stage == 3 && name == LinearTemplate.wResident.parameter.name)
            || (stage == 0 && name == LinearTemplate.block.k.parameter.name)
    }

    /// `o_weights` and `handoff`, after the stages' parameters.
    public var blockParameters: [Parameter] { [Self.weights.parameter, StageHandoff.key.parameter] }

    /// The problem of one decode token with hidden size `hidden` attending over `positions` cached
    /// positions (its own included).
    public static func problem(
        hidden: Int, positions: Int, heads: Int, keyValueHeads: Int, headDim: Int, cores: LogicalCoreSize = .one
    ) -> Problem {
        let attention = AttentionShape.problem(
            positions: positions, heads: heads, keyValueHeads: keyValueHeads, headDim: headDim, cores: cores)
        return Problem(
            names: [Self.hidden.field.name] + attention.names, values: [.int(hidden)] + attention.values)
    }

    /// Small problems the test suite checks this template on.
    public var checkProblems: [String] {
        ["H=256,S=200,heads=4,kv_heads=1,d=64", "H=128,S=130,heads=4,kv_heads=2,d=32,lnc=2"]
    }
    /// A problem to show this template on.
    public var demoProblem: String { "H=2048,S=640,heads=8,kv_heads=1,d=128,lnc=2" }

    /// The stages' problems: projection, norm and rotation, attention, output projection.
    public func problems(_ problem: Problem) -> (qkv: Problem, rope: Problem, attention: Problem, output: Problem) {
        let shape = AttentionShape(problem)
        let hidden = problem[Self.hidden]
        let cores = problem.has(CoreSharing.lnc) ? problem[CoreSharing.lnc] : .one
        let (heads, kvHeads, d) = (shape.heads, shape.keyValueHeads, shape.headDim)
        return (
            qkv.problem(m: 1, k: hidden, n: (heads + 2 * kvHeads) * d, normalise: true, cores: cores),
            QKNormRopeTemplate.problem(
                tokens: 1, queryHeads: heads, keyValueHeads: kvHeads, headDim: d, position: shape.positions - 1),
            AttentionShape.problem(
                positions: shape.positions, heads: heads, keyValueHeads: kvHeads, headDim: d, cores: cores),
            output.problem(m: 1, k: heads * d, n: hidden, cores: cores)
        )
    }

    /// The stages' problems in ``stages`` order.
    public func stageProblems(_ problem: Problem) -> [Problem] {
        let problems = problems(problem)
        return [problems.qkv, problems.rope, problems.attention, problems.output]
    }

    /// A stage's own configuration for `problem`, read from the block's prefixed parameters and
    /// the values the block sets (``sets(_:_:)``).
    public func configuration(of stage: Int, _ configuration: Configuration, for problem: Problem) -> Configuration {
        let (prefix, template) = stages[stage]
        let names = template.parameters.map(\.name)
        let resident = configuration[Self.weights] == .blocked ? Toggle.off : .on
        // The smallest block of K tiles that covers H.
        let tile = configuration["qkv_" + LinearTemplate.tile.k.parameter.name].intValue ?? 128
        let blocks = LinearTemplate.block.k.values
        let wholeRows = blocks.first { $0 * tile >= problem[Self.hidden] } ?? blocks.last ?? 1
        return Configuration(
            names: names,
            values: names.map { name in
                switch (stage, name) {
                case (3, LinearTemplate.wResident.parameter.name): .choice(resident.rawValue)
                case (0, LinearTemplate.block.k.parameter.name): .int(wholeRows)
                default: Self.fixed[stage][name] ?? configuration[prefix + name]
                }
            })
    }

    /// Multiply-accumulates of one call: both projections' and the attention's.
    public func macs(for problem: Problem) -> Int {
        let problems = problems(problem)
        return qkv.macs(for: problems.qkv) + attention.macs(for: problems.attention)
            + output.macs(for: problems.output)
    }

    /// Random logical inputs, drawn as each stage draws its own: the caches' last row is stale
    /// data the kernel must overwrite.
    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let problems = problems(problem)
        let projection = qkv.inputs(for: problems.qkv, seed: seed)
        let rotation = rope.inputs(for: problems.rope, seed: seed &+ 10)
        let cache = attention.inputs(for: problems.attention, seed: seed &+ 20)
        let out = output.inputs(for: problems.output, seed: seed &+ 30)
        return [projection[0], projection[1], projection[2]] + rotation[2...5] + [cache[1], cache[2], out[1]]
    }

    /// The kernel's arguments: `x` and the K cache in the layouts the stages' configurations read.
    public func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor] {
        let problems = problems(problem)
        var arguments = inputs
        arguments[0] =
            qkv.arguments(
                [inputs[0], inputs[1], inputs[2]], problem: problems.qkv,
                configuration: self.configuration(of: 0, configuration, for: problem)
            )[0]
        let shape = AttentionShape(problem)
        let query = HostTensor(
            shape: [shape.heads, shape.headDim], data: [Float](repeating: 0, count: shape.heads * shape.headDim))
        arguments[7] =
            attention.arguments(
                [query, inputs[7], inputs[8]], problem: problems.attention,
                configuration: self.configuration(of: 2, configuration, for: problem))[1]
        return arguments
    }

    /// The stages' references chained, with the new key and value written into the caches.
    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        let stageProblems = stageProblems(problem)
        return [
            chain(problem, inputs: inputs) { stage, inputs in
                stages[stage].template.reference(for: stageProblems[stage], inputs: inputs)
            }.output
        ]
    }

    /// The block computed stage by stage, each stage by `run` (its index and logical inputs to its
    /// outputs): the projection's row split into q, k and v columns, the rotated key and the value
    /// written into the caches' row `S - 1`, attention over the updated caches, the output
    /// projection. With the stages' references it is ``reference(for:inputs:)``; with the stages'
    /// own programs, the unfused chain the block must equal bit for bit.
    ///
    /// ```swift
    /// let caches = block.chain(problem, inputs: inputs) { stage, inputs in
    ///     block.stages[stage].template.reference(for: block.stageProblems(problem)[stage], inputs: inputs)
    /// }
    /// ```
    public func chain(
        _ problem: Problem, inputs: [HostTensor], run: (Int, [HostTensor]) throws -> [HostTensor]
    ) rethrows -> (output: HostTensor, keys: HostTensor, values: HostTensor) {
        let shape = AttentionShape(problem)
        let (heads, kvHeads, d, positions) = (shape.heads, shape.keyValueHeads, shape.headDim, shape.positions)
        let projected = try run(0, [inputs[0], inputs[1], inputs[2]])[0]
        func columns(_ from: Int, _ count: Int) -> HostTensor {
            HostTensor(shape: [1, count], data: Array(projected.data[from..<(from + count)]))
        }
        let rotated = try run(1, [columns(0, heads * d), columns(heads * d, kvHeads * d)] + Array(inputs[3...6]))
        let (keys, values) = Self.caches(
            inputs[7], inputs[8], newKeys: rotated[1], newValues: columns((heads + kvHeads) * d, kvHeads * d),
            positions: positions, headDim: d)
        let attended = try run(2, [HostTensor(shape: [heads, d], data: rotated[0].data), keys, values])[0]
        let output = try run(3, [HostTensor(shape: [1, heads * d], data: attended.data), inputs[9]])[0]
        return (output, keys, values)
    }

    /// The logical caches (`[kv_heads S, d]`) with each KV head's row `S - 1` replaced by the new
    /// token's key and value (`[1, kv_heads d]`).
    static func caches(
        _ keys: HostTensor, _ values: HostTensor, newKeys: HostTensor, newValues: HostTensor, positions: Int,
        headDim: Int
    ) -> (keys: HostTensor, values: HostTensor) {
        var (keys, values) = (keys, values)
        for head in 0..<(newKeys.data.count / headDim) {
            let row = (head * positions + positions - 1) * headDim
            for index in 0..<headDim {
                keys.data[row + index] = newKeys.data[head * headDim + index]
                values.data[row + index] = newValues.data[head * headDim + index]
            }
        }
        return (keys, values)
    }

    /// The problem itself: every stage is small at a decode token.
    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem { problem }
}

/// How the fused attention block loads the output projection's weights.
public enum WeightLoading: String, ParameterChoice {
    /// Block by block inside the projection (`w_resident=0`).
    case blocked
    /// All resident in SBUF, loaded where the projection starts.
    case resident
    /// Resident, loaded from the attention's start.
    case attention
    /// Resident, loaded from the q/k rotation's start (after the q/k/v projection).
    case rotation
    /// Resident, loaded from the kernel's start.
    case start

    /// The stage at whose start the loads are issued (``ProgramChain/Stage/prefetchAt``).
    var stage: Int? {
        switch self {
        case .blocked, .resident: nil
        case .attention: 3
        case .rotation: 1
        case .start: 0
        }
    }
}
