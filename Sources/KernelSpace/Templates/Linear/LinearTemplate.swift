import Foundation

/// `Y[M, N] = act(X[M, K] W[K, N])`, bf16 (or fp32) in and out, fp32 accumulation.
///
/// The program tiles M, K and N (`tile_*`), groups tiles into blocks (`block_*`) so a loaded block
/// of X or W serves several matrix products, runs the three block loops in `loop_order`, loads each
/// operand block just inside the innermost block loop it depends on, rotates load buffers (`x_bufs`, `w_bufs`), evicts PSUM on `evict_engine`, and gets X transposed (K on partitions) by the caller,
/// by TensorE, or by DMA. When K spans several blocks, partial products accumulate in an fp32 SBUF
/// buffer covering the blocks live inside the K-block loop and are written after it.
///
/// ```swift
/// let template = LinearTemplate()
/// let problem = try template.parseProblem("M=640,K=2048,N=768")
/// let program = template.program(for: problem, configuration: template.defaultConfiguration)
/// ```
public struct LinearTemplate: KernelTemplate {
    /// The general `linear` kernel.
    public init() {
        self.init(
            id: "linear", summary: "Y = act(X W): tiled, blocked matrix product with fused activation",
            checkProblems: ["M=40,K=72,N=200", "M=40,K=72,N=200,lnc=2"], demoProblem: "M=256,K=512,N=512")
    }

    /// The same machinery under another name, for a product of the model (`o-proj`, `lm-head`),
    /// with its own test and demo problems.
    /// `normEpsilon` (a model's `rms_norm_eps`) gives the problem a `norm` option: a fused RMSNorm of X's rows.
    public init(
        id: String, summary: String, normEpsilon: Float? = nil, checkProblems: [String], demoProblem: String
    ) {
        self.id = id
        self.summary = summary
        self.normEpsilon = normEpsilon
        self.checkProblems = checkProblems
        self.demoProblem = demoProblem
    }

    /// Small problems the test suite checks this template on, including sizes that do not divide its tiles.
    public let checkProblems: [String]
    /// A problem to show this template on.
    public let demoProblem: String

    /// The epsilon of the fused input RMSNorm; nil when the problem has no `norm` option.
    public let normEpsilon: Float?

    /// Whether the problem has a `norm` option (a fused RMSNorm of X's rows before the product).
    public var fusesNorm: Bool { normEpsilon != nil }

    /// The identifier on the command line and in cache keys.
    public let id: String
    /// One line on what the kernel computes.
    public let summary: String

    static let size = PerDimension(m: SizeField("M"), k: SizeField("K"), n: SizeField("N"))
    static let activation = ChoiceField<LinearActivation>("act", default: LinearActivation.none)
    static let elementType = ChoiceField<ElementType>("dtype", default: .bf16)
    static let norm = ChoiceField<Toggle>("norm", default: .off)

    static let tile = PerDimension(
        m: IntKey("tile_m", [32, 64, 128], default: 128, "rows of X per matmul (stationary free size)"),
        k: IntKey("tile_k", [32, 64, 128], default: 128, "contraction per matmul (partitions)"),
        n: IntKey("tile_n", [128, 256, 512], default: 512, "columns of W per matmul (moving free size)"))
    static let block = PerDimension(
        m: IntKey("block_m", [1, 2, 4, 8, 16], default: 1, "M tiles per block"),
        k: IntKey("block_k", [1, 2, 4, 8, 16, 32, 64], default: 1, "K tiles per block"),
        n: IntKey("block_n", [1, 2, 4, 8, 16], default: 1, "N tiles per block"))
    static let loopOrder = ChoiceKey<LoopOrder>(
        "loop_order", LoopOrder.allCases, default: .mnk, "order of the block loops, outermost first")
    static let xBufs = IntKey("x_bufs", [1, 2, 3], default: 2, "rotating copies of the loaded X block")
    static let wBufs = IntKey("w_bufs", [1, 2, 3], default: 2, "rotating copies of the loaded W block")
    static let wResident = ChoiceKey<Toggle>(
        "w_resident", [.off, .on], default: .off,
        "1: all of W loaded into SBUF once, first (ahead of a fused kernel's earlier stages); 0: block by block")
    static let accumulatorType = ChoiceKey<AccumulatorType>(
        "acc_dtype", [.fp32, .bf16], default: .fp32,
        "SBUF accumulator type when K spans several blocks (bf16 halves its footprint, rounds partial sums)")
    static let evictEngine = ChoiceKey<Engine>(
        "evict_engine", [.vector, .scalar], default: .vector,
        "engine that moves PSUM to SBUF (GpSimd has no PSUM port)")
    static let split = CoreSharing.split([.columns], "how the cores of a logical core share Y: none, or half of N each")
    static let wOperand = ChoiceKey<WeightOperand>(
        "w_operand", [.moving, .stationary], default: .moving,
        "matmul operand W is: moving past X's rows, or 128 x 128 tiles held while X's one row moves (M=1)")
    static let kOrder = ChoiceKey<ContractionOrder>(
        "k_order", ContractionOrder.allCases, default: .interleaved,
        "K on partitions with w_operand=stationary: interleaved (X's row laid out by strided TensorE transposes, "
            + "an fp32 row reshaped by its DMA) or in tiles of 128 (X's rows of 128 transposed on TensorE)")
    static let xLayout = ChoiceKey<OperandLayout>(
        "x_layout", [.pretransposed, .tensorTranspose, .dmaTranspose], default: .pretransposed,
        "X passed as X^T, or transposed in the kernel by TensorE or DMA")

    /// The buffer counts are the compiler's on hardware (see ``CompilerHint/bufferCopies``).
    public var compilerHints: [String: String] {
        [Self.xBufs.parameter.name: CompilerHint.bufferCopies, Self.wBufs.parameter.name: CompilerHint.bufferCopies]
    }

    /// K tiling sets the order of the fp32 sums; `block_*`, `tile_n` and `loop_order` decide whether
    /// partial sums stay in PSUM or are added in SBUF; `acc_dtype` rounds them; `w_operand` and
    /// `k_order` set the order of K in the sums (and a fused norm's squares across partitions).
    public var numericParameters: Set<String> {
        Set(
            [Self.tile.k, Self.block.k, Self.block.m, Self.block.n, Self.tile.n].map(\.parameter.name)
                + [
                    Self.loopOrder.parameter.name, Self.accumulatorType.parameter.name, Self.wOperand.parameter.name,
                    Self.kOrder.parameter.name,
                ])
    }

    /// The problem's dimensions and options, in order.
    public var problemFields: [ProblemField] {
        [Self.size.m.field, Self.size.k.field, Self.size.n.field, Self.activation.field, Self.elementType.field]
            + (fusesNorm ? [Self.norm.field] : []) + [CoreSharing.lnc.field]
    }

    /// The tunable parameters with their built-in domains and defaults.
    public var parameters: [Parameter] {
        [Self.tile.m, Self.tile.k, Self.tile.n, Self.block.m, Self.block.k, Self.block.n].map(\.parameter)
            + [
                Self.loopOrder.parameter, Self.xBufs.parameter, Self.wBufs.parameter, Self.accumulatorType.parameter,
                Self.evictEngine.parameter, Self.xLayout.parameter, Self.split.parameter, Self.wResident.parameter,
                Self.wOperand.parameter, Self.kOrder.parameter,
            ]
    }

    /// The problem, unpacked once.
    struct Shape {
        let size: PerDimension<Int>
        let activation: LinearActivation
        let elementType: ElementType
        /// Whether X's rows are RMS-normalised in the kernel (`norm=1`).
        let normalises: Bool

        init(_ problem: Problem) {
            size = LinearTemplate.size.map { problem[$0] }
            activation = problem[LinearTemplate.activation]
            elementType = problem[LinearTemplate.elementType]
            normalises = problem.has(LinearTemplate.norm) && problem[LinearTemplate.norm] == .on
        }
    }

    /// Multiply-accumulates of one call.
    public func macs(for problem: Problem) -> Int {
        let size = Shape(problem).size
        return size.m * size.k * size.n
    }

    /// Why a configuration is not a sensible variant of this problem, or nil if it is.
    public func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        let split = configuration[Self.split]
        if let reason = CoreSharing.restriction(split, problem) { return reason }
        if split == .columns {
            let columns = problem[Self.size.n]
            if columns % 2 != 0 { return "split=columns needs an even N (N=\(columns))" }
            return coreRestriction(configuration, for: problem.with(Self.size.n, columns / 2))
        }
        return coreRestriction(configuration, for: problem)
    }

    /// The restriction of one core's problem.
    private func coreRestriction(_ configuration: Configuration, for problem: Problem) -> String? {
        let shape = Shape(problem)
        for dimension in LinearDimension.allCases {
            let size = shape.size[dimension]
            let tile = configuration[Self.tile[dimension]]
            let block = configuration[Self.block[dimension]]
            let name = dimension.rawValue
            if let reason = KernelIdioms.redundantTile(
                "tile_\(name)", tile, covering: size, dimension: name.uppercased(),
                smallest: Self.tile[dimension].values.min() ?? 0)
            {
                return reason
            }
            if block > 1 && (block / 2) * tile >= size {
                return "block_\(name)=\(block) is redundant: block_\(name)=\(block / 2) already covers "
                    + "\(name.uppercased())=\(size) with tile_\(name)=\(tile)"
            }
        }
        if configuration[Self.wResident] == .on && configuration[Self.wBufs] != 1 {
            return "w_bufs=\(configuration[Self.wBufs]) has no effect with w_resident=1 (W is loaded once)"
        }
        let kBlocks = ceilDiv(shape.size.k, configuration[Self.tile.k] * configuration[Self.block.k])
        if configuration[Self.wOperand] == .stationary {
            return stationaryRestriction(configuration, shape: shape, kBlocks: kBlocks)
        }
        if configuration[Self.kOrder] != .interleaved {
            return "k_order=\(configuration[Self.kOrder].rawValue) has no effect with w_operand=moving"
        }
        if shape.normalises {
            if configuration[Self.xLayout] != .tensorTranspose {
                return "norm=1 normalises X's rows in SBUF: x_layout must be tensor_transpose"
            }
            if kBlocks > 1 { return "norm=1 needs whole rows: block_k * tile_k must cover K=\(shape.size.k)" }
        }
        let bf16Accumulator = configuration[Self.accumulatorType] == .bf16
        if bf16Accumulator && shape.elementType == .fp32 {
            return "acc_dtype=bf16 would round an fp32 problem's partial sums"
        }
        let inPSUM = Self.accumulatesInPSUM(shape: shape, configuration: configuration)
        if bf16Accumulator && (kBlocks == 1 || inPSUM) {
            return "acc_dtype=bf16 has no effect: partial sums stay in PSUM"
        }
        if kBlocks > 1 && configuration[Self.evictEngine] == .scalar && !inPSUM {
            return "evict_engine=scalar cannot add partial sums in SBUF across K blocks; use vector"
        }
        return nil
    }

    /// The restriction of `w_operand=stationary` (``StationaryLinearBuilder``): one row, K and the
    /// column blocks in whole 128s, and no parameter it would ignore set off its default.
    private func stationaryRestriction(_ configuration: Configuration, shape: Shape, kBlocks: Int) -> String? {
        let (m, k, n) = (shape.size.m, shape.size.k, shape.size.n)
        let extent = configuration[Self.tile.n] * configuration[Self.block.n]
        if m != 1 { return "w_operand=stationary moves one row of X: M must be 1 (M=\(m))" }
        if k % 128 != 0 { return "w_operand=stationary puts K on 128 partitions: K=\(k) must be a multiple of 128" }
        if configuration[Self.tile.k] != 128 {
            return "w_operand=stationary holds 128-row tiles of W: tile_k must be 128"
        }
        if kBlocks > 1 { return "w_operand=stationary sums all of K in PSUM: block_k * tile_k must cover K=\(k)" }
        if n % extent != 0 {
            return "w_operand=stationary stores whole blocks: N=\(n) must be a multiple of tile_n * block_n=\(extent)"
        }
        if configuration[Self.xLayout] != .tensorTranspose {
            return "w_operand=stationary reads X's row as it is: x_layout must be tensor_transpose"
        }
        if shape.normalises && configuration[Self.kOrder] != .interleaved {
            return
                "norm=1 with w_operand=stationary normalises X in the interleaved layout: k_order must be interleaved"
        }
        // An activation runs on ScalarE as the PSUM tile is evicted.
        let ignored =
            [Self.loopOrder.parameter, Self.xBufs.parameter, Self.accumulatorType.parameter]
            + (shape.activation == .none ? [] : [Self.evictEngine.parameter])
        if let parameter = ignored.first(where: { configuration[$0.name] != $0.defaultValue }) {
            return "\(parameter.name)=\(configuration[parameter.name]) has no effect with w_operand=stationary"
        }
        return nil
    }

    /// PSUM banks a whole block's accumulator takes (one bank holds 512 fp32 per partition).
    private static func psumAccumulatorBanks(_ configuration: Configuration) -> Int {
        configuration[block.m] * ceilDiv(configuration[tile.n] * configuration[block.n], 512)
    }

    /// When K is the innermost block loop, one block of outputs can stay in PSUM across K blocks
    /// (double-buffered) if it takes at most three banks, leaving room for transposes.
    static func accumulatesInPSUM(shape: Shape, configuration: Configuration) -> Bool {
        let kBlocks = ceilDiv(shape.size.k, configuration[tile.k] * configuration[block.k])
        return kBlocks > 1 && configuration[loopOrder].dimensions.last == .k
            && psumAccumulatorBanks(configuration) <= 3
    }

    /// Random logical inputs, the operands as the reference takes them.
    public func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] {
        let shape = Shape(problem)
        let dtype = shape.elementType.dtype
        let (m, k, n) = (shape.size.m, shape.size.k, shape.size.n)
        var inputs = [
            HostTensor.random([m, k], dtype: dtype, seed: seed),
            HostTensor.random([k, n], dtype: dtype, seed: seed &+ 1),
        ]
        if shape.normalises { inputs.append(HostTensor.random([1, k], dtype: .bf16, seed: seed &+ 2)) }
        return inputs
    }

    /// The kernel's arguments for logical inputs, in the configuration's layouts.
    public func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor] {
        configuration[Self.xLayout] == .pretransposed ? [Self.transposed(inputs[0])] + inputs.dropFirst() : inputs
    }

    /// What the kernel must compute, written plainly.
    public func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        let shape = Shape(problem)
        let dtype = shape.elementType.dtype
        let (m, k, n) = (shape.size.m, shape.size.k, shape.size.n)
        let w = inputs[1]
        let x =
            shape.normalises ? Self.normalised(inputs[0], weight: inputs[2].data, epsilon: normEpsilon ?? 0) : inputs[0]
        let function = shape.activation.function
        var y = [Float](repeating: 0, count: m * n)
        var sums = [Double](repeating: 0, count: n)
        for row in 0..<m {
            for column in 0..<n { sums[column] = 0 }
            for inner in 0..<k {
                let a = Double(x.data[row * k + inner])
                let offset = inner * n
                for column in 0..<n { sums[column] += a * Double(w.data[offset + column]) }
            }
            for column in 0..<n { y[row * n + column] = dtype.round(function.apply(Float(sums[column]))) }
        }
        return [HostTensor(shape: [m, n], data: y)]
    }

    /// The problem `Y[m, n] = act(X[m, k] W[k, n])`; `normalise` (for an instance with a fused norm)
    /// normalises X's rows first; `cores` is the logical core it runs on.
    public func problem(
        m: Int, k: Int, n: Int, activation: LinearActivation = .none, elementType: ElementType = .bf16,
        normalise: Bool = false, cores: LogicalCoreSize = .one
    ) -> Problem {
        var names = [Self.size.m, Self.size.k, Self.size.n].map(\.field.name)
        var values: [ParameterValue] = [.int(m), .int(k), .int(n)]
        names += [Self.activation.field.name, Self.elementType.field.name]
        values += [.choice(activation.rawValue), .choice(elementType.rawValue)]
        if fusesNorm {
            names.append(Self.norm.field.name)
            values.append(.choice((normalise ? Toggle.on : .off).rawValue))
        }
        names.append(CoreSharing.lnc.field.name)
        values.append(.choice(cores.rawValue))
        return Problem(names: names, values: values)
    }

    /// fp32 round-off for an fp32 problem, a few bf16 ulps otherwise.
    public func tolerance(for problem: Problem) -> Double {
        Shape(problem).elementType == .fp32 ? 1e-4 : 2e-2
    }

    /// A smaller problem with the same program structure, for numeric checks.
    public func checkProblem(for problem: Problem, configuration: Configuration) -> Problem {
        guard configuration[Self.split] == .none else {
            let columns = problem[Self.size.n]
            let half = checkProblem(
                for: problem.with(Self.size.n, columns / 2), configuration: configuration.with(Self.split, .none))
            return half.with(Self.size.n, 2 * half[Self.size.n])
        }
        let shape = Shape(problem)
        var small = problem
        for dimension in LinearDimension.allCases {
            let extent = configuration[Self.tile[dimension]] * configuration[Self.block[dimension]]
            small = small.with(Self.size[dimension], KernelIdioms.checkSize(shape.size[dimension], extent: extent))
        }
        return small
    }

    /// Hugging Face's RMSNorm of each row: `bf16(weight * bf16(x / rms(x)))`.
    static func normalised(_ x: HostTensor, weight: [Float], epsilon: Float) -> HostTensor {
        let (rows, columns) = (x.shape[0], x.shape[1])
        var data = x.data
        for row in 0..<rows {
            var total: Float = 0
            for column in 0..<columns { total += x.data[row * columns + column] * x.data[row * columns + column] }
            let scale = Foundation.pow(total / Float(columns) + epsilon, -0.5)
            for column in 0..<columns {
                data[row * columns + column] = DType.roundToBF16(
                    weight[column] * DType.roundToBF16(x.data[row * columns + column] * scale))
            }
        }
        return HostTensor(shape: x.shape, data: data)
    }

    static func transposed(_ tensor: HostTensor) -> HostTensor {
        let (rows, columns) = (tensor.shape[0], tensor.shape[1])
        var data = [Float](repeating: 0, count: rows * columns)
        for row in 0..<rows {
            for column in 0..<columns { data[column * rows + row] = tensor.data[row * columns + column] }
        }
        return HostTensor(shape: [columns, rows], data: data)
    }
}

func ceilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }
