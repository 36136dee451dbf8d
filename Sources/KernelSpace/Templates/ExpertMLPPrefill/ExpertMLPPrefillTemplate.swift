/// The routed experts of a prefill: tokens grouped by expert into blocks of `block` rows (the last
/// block of each expert padded with weight-0 rows). Each block gathers its tokens' rows in one
/// indirect DMA (a run-time offset per row, ``Access/rows(at:skippingOutOfRange:)``), runs its
/// expert's gate/up, SiLU * up and down projections, scales rows by their routing weights, and
/// scatter-adds them into the output in one indirect accumulating DMA.
///
/// Routing is data: the block tables (each block's expert, its rows' tokens and weights, whether it
/// holds any) are run-time inputs built from the router's actual choices, and the program is compiled
/// for the most blocks any routing of the problem can need (every used expert's last block partial,
/// ``blockBound(_:size:cores:)``). A block's statements run only when its flag is set, a count read on
/// the device (``RuntimeCount``), so the empty blocks past the routing's own cost nothing (with
/// split cores, the used blocks are dealt to the cores in turn). A padding row's token index is `T`
/// plus its slot in the block: the gather skips it (the row keeps the zeros set before), and its
/// scatter-add lands in a scratch row past the `T` the output keeps, so a block's indices are
/// distinct. The problem's `routing` option
/// (`balanced` spreads the `T * k` choices evenly, `skewed` favours low-numbered experts) chooses the
/// routing of the check inputs and the block count the performance model times. Each token's
/// experts are added in ascending expert order whatever the block size, so no parameter but the
/// core split and the hidden order changes numerics.
public struct ExpertMLPPrefillTemplate: KernelTemplate {
    /// Creates a value with every field given.
    public init() {}

    /// The identifier on the command line and in cache keys.
    public let id = "expert-mlp-prefill"
    /// One line on what the kernel computes.
    public let summary = "prefill MoE: tokens grouped by expert in padded blocks, gathered, projected, scatter-added"
    /// The parameters that change the numbers computed (see ``KernelTemplate/numericParameters``).
    public var numericParameters: Set<String> { [Self.split.parameter.name, Self.hiddenOrder.parameter.name] }

    static let routing = ChoiceField<RoutingScenario>("routing", default: .balanced)

    static let block = IntKey("block", [32, 48, 64, 128], default: 64, "token rows per expert block")
    static let bufs = IntKey("bufs", [1, 2, 3], default: 2, "blocks' rows and weights in flight (rotating copies)")
    static let gateUp = ExpertShape.gateUp
    static let hiddenOrder = ChoiceKey<HiddenOrder>(
        "hidden_order", [.tiles, .interleaved], default: .tiles,
        "how H lies on partitions: tiles of 128, or interleaved so one DMA with a contiguous run per partition "
            + "loads an expert's gate/up columns (sums over H in another order)")
    static let downTile = ExpertShape.downTile
    static let scaleEngine = ChoiceKey<Engine>(
        "scale_engine", [.vector, .scalar], default: .vector,
        "engine applying routing weights as it moves the down projection out of PSUM")
    static let transposeEngine = ChoiceKey<Engine>(
        "transpose_engine", [.vector, .scalar], default: .vector,
        "engine moving each block's transposed token rows out of PSUM (ScalarE leaves VectorE the weights)")
    static let split = CoreSharing.split(
        [.blocks],
        "how the cores share the blocks: none, or half each, scatter-adding into their own partial sum (bf16, "
            + "like the output) that the cores then add in fp32 (changes numerics)")

    /// The problem's dimensions and options, in order.
    public var problemFields: [ProblemField] { ExpertShape.fields + [Self.routing.field, CoreSharing.lnc.field] }

    /// The tunable parameters with their built-in domains and defaults.
    public var parameters: [Parameter] {
        [
            Self.block.parameter, Self.bufs.parameter, Self.gateUp.parameter, Self.hiddenOrder.parameter,
            Self.downTile.parameter,
            Self.scaleEngine.parameter, Self.transposeEngine.parameter, Self.split.parameter,
        ]
    }

    private let decode = ExpertMLPDecodeTemplate()

    /// The problem of `tokens` tokens, each through `k` of `experts` experts, timed for `routing`, on
    /// a logical core of `cores`.
    public static func problem(
        tokens: Int, hidden: Int, columns: Int, experts: Int, k: Int, routing: RoutingScenario = .balanced,
        cores: LogicalCoreSize = .one
    ) -> Problem {
        Problem(
            names: ExpertShape.fields.map(\.name) + [Self.routing.field.name, CoreSharing.lnc.field.name],
            values: [tokens, hidden, columns, experts, k].map { .int($0) } + [
                .choice(routing.rawValue), .choice(cores.rawValue),
            ])
    }

    /// Small problems the test suite checks this template on, including sizes that do not divide its tiles.
    public var checkProblems: [String] {
        [
            "T=40,H=128,I=96,E=8,k=2", "T=70,H=64,I=160,E=6,k=3,routing=skewed", "T=24,H=384,I=64,E=4,k=2",
            "T=40,H=128,I=96,E=8,k=4,lnc=2",
        ]
    }
    /// A problem to show this template on.
    public var demoProblem: String { "T=128,H=2048,I=192,E=128,k=8" }
    /// The buffer counts are the compiler's on hardware (see ``CompilerHint/bufferCopies``).
    public var compilerHints: [String: String] { [Self.bufs.parameter.name: CompilerHint.bufferCopies] }

    /// Multiply-accumulates of one call.
    public func macs(for problem: Problem) -> Int { decode.macs(for: problem) }

    /// Why a configuration is not a sensible variant of this problem, or nil if it is.
    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        let (tokens, hidden, columns, experts, k) = ExpertShape(problem).dimensions
        if k > experts { return "k=\(k) exceeds E=\(experts)" }
        if 2 * columns > 512 { return "2I=\(2 * columns) exceeds one PSUM bank of gate/up columns (512)" }
        if hidden > 128 && hidden % 128 != 0 { return "H=\(hidden) must be at most 128 or a multiple of 128" }
        // An expert can be chosen by every token: a block larger than T is never full.
        let block = configuration[Self.block]
        if let reason = KernelIdioms.redundantTile("block", block, covering: tokens, dimension: "T", smallest: 32) {
            return reason
        }
        if configuration[Self.hiddenOrder] == .interleaved {
            if hidden <= 128 { return "hidden_order=interleaved is hidden_order=tiles when H <= 128 (H=\(hidden))" }
            if configuration[Self.gateUp] != .fused {
                return "hidden_order=interleaved loads gate and up columns in one DMA (gate_up=fused)"
            }
        }
        let downTile = configuration[Self.downTile]
        if downTile > 256 && hidden <= 256 { return "down_tile=\(downTile) is redundant: 256 covers H=\(hidden)" }
        let split = configuration[Self.split]
        if let reason = CoreSharing.restriction(split, problem) { return reason }
        if split == .blocks && hidden % 2 != 0 { return "split=blocks adds the partial sums by halves of H=\(hidden)" }
        return nil
    }

    /// Cores the configuration's blocks are shared by.
    static func cores(_ configuration: Configuration) -> Int { configuration[split] == .blocks ? 2 : 1 }

    /// The most blocks of `size` rows any routing of the problem needs: every choice in a block,
    /// and each used expert (at most `min(E, T * k)`) adding at most one partial block.
    /// Shared by `cores`, the bound rounds up to a multiple of them.
    static func blockBound(_ shape: ExpertShape, size: Int, cores: Int = 1) -> Int {
        let choices = shape.tokens * shape.k
        let bound = (choices + min(shape.experts, choices) * (size - 1)) / size
        return (bound + cores - 1) / cores * cores
    }

    /// The scenario's routing (for check inputs): each token's experts and weights.
    static func routing(_ problem: Problem) -> (experts: [[Int]], weights: [[Float]]) {
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
        return (chosen, weights)
    }

    /// Blocks of `size` rows the problem's own routing scenario fills: what the performance model
    /// times of the ``blockBound(_:size:cores:)`` the kernel is compiled for.
    static func usedBlocks(_ problem: Problem, size: Int) -> Int {
        let (experts, _) = routing(problem)
        var counts = [Int](repeating: 0, count: ExpertShape(problem).experts)
        for row in experts { for expert in row { counts[expert] += 1 } }
        return counts.reduce(0) { $0 + ($1 + size - 1) / size }
    }

    /// The block tables of an actual routing (`indices` and `weights` as the router returns them,
    /// `[T, k]`): experts in ascending order, each expert's (token, slot) choices in token order,
    /// `size` rows a block (the last one padded with weight 0 and token `T + r` in slot `r`), then
    /// empty blocks (all padding) up to ``blockBound(_:size:cores:)``; the used blocks are marked
    /// active. Shared by `cores`, core `c`
    /// takes the `c`-th slice of the tables, which holds blocks `c`, `c + cores`, ... in order: used
    /// block `g` sits at `(g % cores) * L + g / cores` for `L` blocks a core, so each core's active
    /// blocks come first and the cores' counts differ by at most one. The exported model module
    /// builds the same tables with a few torch operations on the router's outputs (a stable sort by
    /// expert), which the harness runs anyway.
    static func blocks(indices: HostTensor, weights: HostTensor, shape: ExpertShape, size: Int, cores: Int = 1)
        -> [(expert: Int, tokens: [Int], weights: [Float], active: Bool)]
    {
        let padding = (0..<size).map { shape.tokens + $0 }
        let k = shape.k
        var assignments = [[Int]](repeating: [], count: shape.experts)
        for choice in 0..<(shape.tokens * k) {
            let expert = Int(indices.data[choice])
            if (0..<shape.experts).contains(expert) { assignments[expert].append(choice) }
        }
        var result: [(expert: Int, tokens: [Int], weights: [Float])] = []
        for (expert, pairs) in assignments.enumerated() {
            var start = 0
            while start < pairs.count {
                let chunk = Array(pairs[start..<min(start + size, pairs.count)])
                result.append(
                    (
                        expert, chunk.map { $0 / k } + padding[chunk.count...],
                        chunk.map { weights.data[$0] } + [Float](repeating: 0, count: size - chunk.count)
                    ))
                start += size
            }
        }
        let empty = (expert: 0, tokens: padding, weights: [Float](repeating: 0, count: size))
        let total = blockBound(shape, size: size, cores: cores)
        let ordered = result + Array(repeating: empty, count: max(0, total - result.count))
        let perCore = total / cores
        return (0..<total).map { position in
            let block = (position % perCore) * cores + position / perCore
            let (expert, tokens, weights) = ordered[block]
            return (expert, tokens, weights, block < result.count)
        }
    }

    /// Random logical inputs, the operands as the reference takes them.
    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let (tokens, _, _, _, k) = ExpertShape(problem).dimensions
        let (experts, weights) = Self.routing(problem)
        var inputs = Array(decode.inputs(for: problem, seed: seed).prefix(3))
        inputs.append(HostTensor(shape: [tokens, k], data: experts.flatMap { $0.map(Float.init) }))
        inputs.append(HostTensor(shape: [tokens, k], data: weights.flatMap { $0 }))
        return inputs
    }

    /// The kernel's arguments for logical inputs, in the configuration's layouts: the block tables
    /// (``blocks(indices:weights:shape:size:cores:)``) with a block's rows' tokens and weights as
    /// columns `[block, blocks]`.
    public func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor] {
        let size = configuration[Self.block]
        let blocks = Self.blocks(
            indices: inputs[3], weights: inputs[4], shape: ExpertShape(problem), size: size,
            cores: Self.cores(configuration))
        return Array(inputs.prefix(3)) + [
            HostTensor(shape: [1, blocks.count], data: blocks.map { Float($0.expert) }),
            HostTensor(
                shape: [size, blocks.count], data: (0..<size).flatMap { row in blocks.map { Float($0.tokens[row]) } }),
            HostTensor(
                shape: [size, blocks.count], data: (0..<size).flatMap { row in blocks.map { $0.weights[row] } }),
            HostTensor(shape: [1, blocks.count], data: blocks.map { $0.active ? 1 : 0 }),
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
