/// The problem both expert templates share (`T`, `H`, `I`, `E`, `k`), unpacked once.
struct ExpertShape {
    static let tokens = SizeField("T")
    static let hidden = SizeField("H")
    static let columns = SizeField("I")
    static let experts = SizeField("E")
    static let topK = SizeField("k", default: 8)

    /// The parameters both expert templates have: how gate and up are loaded and the down
    /// projection's hidden chunk (see ``ExpertProjection``).
    static let gateUp = ChoiceKey<GateUpLoad>(
        "gate_up", [.fused, .separate], default: .fused,
        "load gate and up columns in one DMA per hidden tile, or one each")
    static let downTile = IntKey("down_tile", [256, 512], default: 512, "hidden columns per down-projection matmul")

    /// The fields, in problem order.
    static var fields: [ProblemField] { [tokens, hidden, columns, experts, topK].map(\.field) }

    let tokens: Int
    let hidden: Int
    /// The experts' intermediate size `I`.
    let columns: Int
    let experts: Int
    let k: Int

    init(_ problem: Problem) {
        tokens = problem[Self.tokens]
        hidden = problem[Self.hidden]
        columns = problem[Self.columns]
        experts = problem[Self.experts]
        k = problem[Self.topK]
    }

    /// `(T, H, I, E, k)`.
    var dimensions: (Int, Int, Int, Int, Int) { (tokens, hidden, columns, experts, k) }

    /// The same program structure for a numeric check: only the `k` experts a token uses (every
    /// run-time offset still taken from the router's indices) and H cut to at most two down tiles
    /// with the same remainder.
    static func reduced(_ problem: Problem, downTile: Int) -> Problem {
        let shape = ExpertShape(problem)
        return problem.with(experts, min(shape.experts, shape.k)).with(
            hidden, KernelIdioms.checkSize(shape.hidden, extent: downTile))
    }
}
