/// The problem both attention templates share (`S` positions, `heads` query heads, `kv_heads`
/// key/value heads, head size `d`), unpacked once.
struct AttentionShape {
    static let positions = SizeField("S")
    static let heads = SizeField("heads")
    static let keyValueHeads = SizeField("kv_heads")
    static let headDim = SizeField("d", default: 128)

    /// The fields, in problem order.
    static var fields: [ProblemField] { [positions, heads, keyValueHeads, headDim].map(\.field) }

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
    static func problem(positions: Int, heads: Int, keyValueHeads: Int, headDim: Int) -> Problem {
        Problem(names: fields.map(\.name), values: [positions, heads, keyValueHeads, headDim].map { .int($0) })
    }

    /// Why the heads cannot be laid out on partitions, or nil.
    var restriction: String? {
        if heads % keyValueHeads != 0 { return "heads=\(heads) is not a multiple of kv_heads=\(keyValueHeads)" }
        if headDim > 128 { return "d=\(headDim) exceeds the 128 partitions of one contraction" }
        return nil
    }
}
