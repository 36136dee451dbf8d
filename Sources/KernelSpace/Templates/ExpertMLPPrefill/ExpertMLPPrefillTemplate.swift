/// The routed experts of a prefill: tokens grouped by expert into blocks of `block` rows (the last
/// block of each expert padded with weight-0 rows). Each block gathers its tokens' rows (DMAs
/// offset by the token index), runs its expert's gate/up, SiLU * up and down projections, scales
/// rows by their routing weights, and scatter-adds them into the output (`dst_rmw_op=nl.add`).
///
/// The problem carries the routing, since time depends on it: `routing=balanced` spreads the
/// `T * k` choices evenly; `routing=skewed` favours low-numbered experts (weights about 1 / rank).
/// Each token's experts are added in ascending expert order whatever the block size, so no
/// parameter changes numerics.
public struct ExpertMLPPrefillTemplate: KernelTemplate {
    /// Creates a value with every field given.
    public init() {}

    /// The identifier on the command line and in cache keys.
    public let id = "expert-mlp-prefill"
    /// One line on what the kernel computes.
    public let summary = "prefill MoE: tokens grouped by expert in padded blocks, gathered, projected, scatter-added"
    /// The parameters that change the numbers computed (see ``KernelTemplate/numericParameters``).
    public let numericParameters: Set<String> = []

    static let routing = ChoiceField<RoutingScenario>("routing", default: .balanced)

    static let block = IntKey("block", [32, 64, 128], default: 128, "token rows per expert block")
    static let bufs = IntKey("bufs", [1, 2, 3], default: 2, "blocks' rows and weights in flight (rotating copies)")
    static let gateUp = ExpertShape.gateUp
    static let downTile = ExpertShape.downTile
    static let multiplyEngine = ExpertShape.multiplyEngine
    static let scaleEngine = ChoiceKey<Engine>(
        "scale_engine", [.vector, .gpsimd], default: .vector, "engine applying routing weights")

    /// The problem's dimensions and options, in order.
    public var problemFields: [ProblemField] { ExpertShape.fields + [Self.routing.field] }

    /// The tunable parameters with their built-in domains and defaults.
    public var parameters: [Parameter] {
        [
            Self.block.parameter, Self.bufs.parameter, Self.gateUp.parameter, Self.downTile.parameter,
            Self.multiplyEngine.parameter, Self.scaleEngine.parameter,
        ]
    }

    private let decode = ExpertMLPDecodeTemplate()

    /// The problem of `tokens` tokens, each through `k` of `experts` experts, timed for `routing`.
    public static func problem(
        tokens: Int, hidden: Int, columns: Int, experts: Int, k: Int, routing: RoutingScenario = .balanced
    ) -> Problem {
        Problem(
            names: ExpertShape.fields.map(\.name) + [Self.routing.field.name],
            values: [tokens, hidden, columns, experts, k].map { .int($0) } + [.choice(routing.rawValue)])
    }

    /// Small problems the test suite checks this template on, including sizes that do not divide its tiles.
    public var checkProblems: [String] {
        ["T=40,H=128,I=96,E=8,k=2", "T=70,H=64,I=160,E=6,k=3,routing=skewed", "T=24,H=384,I=64,E=4,k=2"]
    }
    /// A problem to show this template on.
    public var demoProblem: String { "T=128,H=2048,I=192,E=128,k=8" }

    /// Multiply-accumulates of one call.
    public func macs(for problem: Problem) -> Int { decode.macs(for: problem) }

    /// Why a configuration is not a sensible variant of this problem, or nil if it is.
    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        let (tokens, hidden, columns, experts, k) = ExpertShape(problem).dimensions
        if k > experts { return "k=\(k) exceeds E=\(experts)" }
        if 2 * columns > 512 { return "2I=\(2 * columns) exceeds one PSUM bank of gate/up columns (512)" }
        if hidden > 128 && hidden % 128 != 0 { return "H=\(hidden) must be at most 128 or a multiple of 128" }
        let block = configuration[Self.block]
        let largest = Self.routing(problem).assignments.map(\.count).max() ?? 0
        if let reason = KernelIdioms.redundantTile(
            "block", block, covering: max(1, largest), dimension: "the largest expert's tokens", smallest: 32)
        {
            return reason
        }
        let downTile = configuration[Self.downTile]
        if downTile > 256 && hidden <= 256 { return "down_tile=\(downTile) is redundant: 256 covers H=\(hidden)" }
        _ = tokens
        return nil
    }

    /// Each token's experts and weights, and each expert's (token, slot) pairs, from the problem alone.
    static func routing(_ problem: Problem) -> (experts: [[Int]], weights: [[Float]], assignments: [[Int]]) {
        let shape = ExpertShape(problem)
        let (tokens, experts, k) = (shape.tokens, shape.experts, shape.k)
        var generator = SplitMix64(seed: 0x5EED)
        var chosen: [[Int]] = []
        var weights: [[Float]] = []
        for token in 0..<tokens {
            var row: [Int] = []
            if problem[Self.routing] == .balanced {
                row = (0..<k).map { (token * k + $0) % experts }
            } else {
                while row.count < min(k, experts) {
                    // Zipf-like: expert e drawn with weight 1 / (e + 1).
                    let total = (0..<experts).reduce(0.0) { $0 + (row.contains($1) ? 0 : 1 / Double($1 + 1)) }
                    var draw = Double(generator.nextUnitFloat()) * total
                    for expert in 0..<experts where !row.contains(expert) {
                        draw -= 1 / Double(expert + 1)
                        if draw <= 0 {
                            row.append(expert)
                            break
                        }
                    }
                    if draw > 0, let last = (0..<experts).last(where: { !row.contains($0) }) { row.append(last) }
                }
            }
            let raw = (0..<k).map { _ in generator.nextUnitFloat() + 0.1 }
            let sum = raw.reduce(0, +)
            chosen.append(row)
            weights.append(raw.map { $0 / sum })
        }
        var assignments = [[Int]](repeating: [], count: experts)
        for token in 0..<tokens {
            for slot in 0..<k { assignments[chosen[token][slot]].append(token * k + slot) }
        }
        return (chosen, weights, assignments)
    }

    /// Blocks of `size` rows: each block's expert, and per row its token and weight (padding: token 0, weight 0).
    static func blocks(_ problem: Problem, size: Int) -> [(expert: Int, tokens: [Int], weights: [Float])] {
        let (_, weights, assignments) = routing(problem)
        let k = ExpertShape(problem).k
        var result: [(expert: Int, tokens: [Int], weights: [Float])] = []
        for (expert, pairs) in assignments.enumerated() {
            var start = 0
            while start < pairs.count {
                let chunk = Array(pairs[start..<min(start + size, pairs.count)])
                let padding = size - chunk.count
                result.append(
                    (
                        expert, chunk.map { $0 / k } + [Int](repeating: 0, count: padding),
                        chunk.map { weights[$0 / k][$0 % k] } + [Float](repeating: 0, count: padding)
                    ))
                start += size
            }
        }
        return result
    }

    /// Random logical inputs, the operands as the reference takes them.
    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let (tokens, _, _, _, k) = ExpertShape(problem).dimensions
        let (experts, weights, _) = Self.routing(problem)
        var inputs = Array(decode.inputs(for: problem, seed: seed).prefix(3))
        inputs.append(HostTensor(shape: [tokens, k], data: experts.flatMap { $0.map(Float.init) }))
        inputs.append(HostTensor(shape: [tokens, k], data: weights.flatMap { $0 }))
        return inputs
    }

    /// The kernel's arguments for logical inputs, in the configuration's layouts.
    public func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor] {
        let size = configuration[Self.block]
        let blocks = Self.blocks(problem, size: size)
        return Array(inputs.prefix(3)) + [
            HostTensor(shape: [1, blocks.count], data: blocks.map { Float($0.expert) }),
            HostTensor(shape: [1, blocks.count * size], data: blocks.flatMap { $0.tokens.map(Float.init) }),
            HostTensor(shape: [blocks.count * size, 1], data: blocks.flatMap(\.weights)),
        ]
    }

    /// What the kernel must compute, written plainly.
    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        decode.reference(for: problem, inputs: inputs)
    }

    /// The decode check's reduction of E and H, and just enough tokens that every expert has one
    /// full block and one partial block.
    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem {
        let small = ExpertShape.reduced(problem, downTile: configuration[Self.downTile])
        let (tokens, _, _, experts, k) = ExpertShape(small).dimensions
        return small.with(ExpertShape.tokens, min(tokens, configuration[Self.block] * experts / k + 1))
    }
}
