/// The problem both attention templates share (`S` positions, `heads` query heads, `kv_heads`
/// key/value heads, head size `d`), unpacked once.
struct AttentionShape {
    static let positions = SizeField("S")
    static let heads = SizeField("heads")
    static let keyValueHeads = SizeField("kv_heads")
    static let headDim = SizeField("d", default: 128)

    /// The fields, in problem order.
    static var fields: [ProblemField] {
        [positions, heads, keyValueHeads, headDim].map(\.field) + [CoreSharing.lnc.field]
    }

    /// The `split` parameter: none, or half of the query heads on each core.
    static let split = CoreSharing.split(
        [.heads],
        "how the cores share the heads: none, or half the query heads (and KV heads, when there are several) each")

    let positions: Int
    let heads: Int
    let keyValueHeads: Int
    let headDim: Int

    init(_ problem: Problem) {
        positions = problem[Self.positions]
        heads = problem[Self.heads]
        keyValueHeads = problem[Self.keyValueHeads]
        headDim = problem[Self.headDim]
    }

    /// The problem with these values.
    static func problem(
        positions: Int, heads: Int, keyValueHeads: Int, headDim: Int, cores: LogicalCoreSize = .one
    ) -> Problem {
        Problem(
            names: fields.map(\.name),
            values: [positions, heads, keyValueHeads, headDim].map { .int($0) } + [.choice(cores.rawValue)])
    }

    /// Why `split` cannot divide this problem's heads, or nil.
    static func splitRestriction(_ configuration: Configuration, for problem: Problem) -> String? {
        let split = configuration[Self.split]
        if let reason = CoreSharing.restriction(split, problem) { return reason }
        guard split == .heads else { return nil }
        let (heads, kvHeads) = (problem[Self.heads], problem[Self.keyValueHeads])
        if heads % 2 != 0 { return "split=heads needs an even number of heads (heads=\(heads))" }
        if kvHeads > 1 && kvHeads % 2 != 0 { return "split=heads needs kv_heads=1 or even (kv_heads=\(kvHeads))" }
        return nil
    }

    /// One core's problem under `split`: half the heads, and half the KV heads when there are several.
    static func coreProblem(_ problem: Problem, _ configuration: Configuration) -> Problem {
        guard configuration[Self.split] == .heads else { return problem }
        let kvHeads = problem[Self.keyValueHeads]
        return problem.with(Self.heads, problem[Self.heads] / 2)
            .with(Self.keyValueHeads, kvHeads > 1 ? kvHeads / 2 : kvHeads)
    }

    /// `program`, built for one core's heads, run on both cores under `split`: queries and outputs
    /// (first dimension, head-major) are sliced, and the other inputs (K, V, a new key) too when
    /// each core has its own KV heads.
    static func spread(_ program: KernelProgram, _ problem: Problem, _ configuration: Configuration) -> KernelProgram {
        guard configuration[Self.split] == .heads else { return program }
        var slices = [program.inputs[0].id: 0, program.outputs[0].id: 0]
        if problem[Self.keyValueHeads] > 1 {
            // K, V and a new key (``AttentionDecodeTemplate``'s fused form) by KV head.
            for input in program.inputs.dropFirst() { slices[input.id] = 0 }
        }
        return program.spread(over: 2, slicing: slices)
    }

    /// Why the heads cannot be laid out on partitions, or nil.
    var restriction: String? {
        if heads % keyValueHeads != 0 { return "heads=\(heads) is not a multiple of kv_heads=\(keyValueHeads)" }
        if headDim > 128 { return "d=\(headDim) exceeds the 128 partitions of one contraction" }
        return nil
    }
}

/// The two attention templates, which share their problem (``AttentionShape``).
public protocol AttentionTemplate: KernelTemplate {}

extension AttentionTemplate {
    /// The problem of `heads` query heads and `keyValueHeads` KV heads of size `headDim` over
    /// `positions` positions (the cache for decode, the prompt for prefill), on a logical core of
    /// `cores`.
    public static func problem(
        positions: Int, heads: Int, keyValueHeads: Int, headDim: Int, cores: LogicalCoreSize = .one
    ) -> Problem {
        AttentionShape.problem(
            positions: positions, heads: heads, keyValueHeads: keyValueHeads, headDim: headDim, cores: cores)
    }
}
