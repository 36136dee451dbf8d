/// The problem both expert templates share (`T`, `H`, `I`, `E`, `k`), unpacked once.
struct ExpertShape {
    static let tokens = SizeField("T")
    static let hidden = SizeField("H")
    static let columns = SizeField("I")
    static let experts = SizeField("E")
    static let topK = SizeField("k", default: 8)

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
