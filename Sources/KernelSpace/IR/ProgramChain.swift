/// Several kernel programs run back to back as one kernel: a later stage reads what an earlier one
/// wrote through an HBM tensor of the chained kernel, so the stages share one launch and one
/// instruction stream, and every stage computes exactly what it computes alone (same rounding).
///
/// On several cores (a stage split over both cores of a logical core), a one-core stage runs on
/// every core: each core writes its own copy of the stage's intermediate outputs (their first
/// dimension grows by the number of cores) and reads its own copy later, so no core waits on another.
///
/// ```swift
/// let chain = ProgramChain(stages: [
///     .init(norm, inputs: [.argument(0), .argument(1), .argument(2)]),
///     .init(router, inputs: [.output(stage: 0, index: 0), .argument(3)]),
/// ], results: [ProgramChain.Output(stage: 1, index: 0), ProgramChain.Output(stage: 1, index: 1)])
/// let program = chain.program(name: "norm_router_kernel", arguments: ["x", "residual", "weight", "w"])
/// ```
public struct ProgramChain: Sendable {
    /// Where a stage's input comes from.
    public enum Source: Hashable, Sendable {
        /// An argument of the chained kernel, by position.
        case argument(Int)
        /// An output of an earlier stage.
        case output(stage: Int, index: Int)
    }

    /// One stage's output.
    public struct Output: Hashable, Sendable {
        /// The stage.
        public var stage: Int
        /// The output, in the stage's order.
        public var index: Int

        /// Creates a value with every field given.
        public init(stage: Int, index: Int) {
            self.stage = stage
            self.index = index
        }
    }

    /// A program and where each of its inputs comes from.
    public struct Stage: Sendable {
        /// The stage's program.
        public var program: KernelProgram
        /// The source of each input, in argument order.
        public var inputs: [Source]

        /// Creates a value with every field given.
        public init(_ program: KernelProgram, inputs: [Source]) {
            precondition(program.inputs.count == inputs.count, "\(program.name): one source per input")
            self.program = program
            self.inputs = inputs
        }
    }

    /// The stages, in execution order.
    public var stages: [Stage]
    /// The chained kernel's outputs, in stage order.
    public var results: [Output]

    /// Creates a value with every field given.
    public init(stages: [Stage], results: [Output]) {
        self.stages = stages
        self.results = results
    }

    /// The chained kernel, named `name`, taking `arguments` (names of the ``Source/argument(_:)`` inputs).
    public func program(name: String, arguments: [String]) -> KernelProgram {
        let cores = stages.map(\.program.cores).max() ?? 1
        let consumed = Set(
            stages.flatMap(\.inputs).compactMap { source -> Output? in
                if case .output(let stage, let index) = source { return Output(stage: stage, index: index) }
                return nil
            })
        // One-core stages of a several-core chain run on every core, each on its own intermediates.
        var perCoreRows: [Output: Int] = [:]
        let programs = stages.enumerated().map { number, stage -> KernelProgram in
            guard cores > 1, stage.program.cores == 1 else { return stage.program }
            var slices: [Int: Int] = [:]
            for (index, output) in stage.program.outputs.enumerated() {
                let key = Output(stage: number, index: index)
                guard consumed.contains(key), !results.contains(key) else { continue }
                slices[output.id] = 0
                perCoreRows[key] = output.shape[0]
            }
            return stage.program.spread(over: cores, slicing: slices)
        }
        var merged = Merge(cores: cores)
        var produced: [Output: Int] = [:]
        var argumentIDs: [Int: Int] = [:]
        for (number, program) in programs.enumerated() {
            var bufferMap: [Int: Int] = [:]
            var shifts: [Int: Int] = [:]
            for (slot, input) in program.inputs.enumerated() {
                switch stages[number].inputs[slot] {
                case .argument(let position):
                    if let id = argumentIDs[position] {
                        precondition(merged.buffers[id].shape == input.shape, "argument \(position) has two shapes")
                        bufferMap[input.id] = id
                    } else {
                        var declaration = input
                        declaration.name = arguments[position]
                        declaration.role = .input(position)
                        let id = merged.add(declaration)
                        argumentIDs[position] = id
                        bufferMap[input.id] = id
                    }
                case .output(let stage, let index):
                    let key = Output(stage: stage, index: index)
                    guard let id = produced[key] else { preconditionFailure("stage \(number) reads a later output") }
                    bufferMap[input.id] = id
                    if let rows = perCoreRows[key] { shifts[id] = rows }
                }
            }
            for buffer in program.buffers where bufferMap[buffer.id] == nil {
                var declaration = buffer
                if case .output = buffer.role {
                    let index = program.outputs.firstIndex { $0.id == buffer.id } ?? 0
                    let key = Output(stage: number, index: index)
                    declaration.role = results.contains(key) ? .output : .intermediate
                    bufferMap[buffer.id] = merged.add(declaration)
                    produced[key] = bufferMap[buffer.id]
                } else {
                    if buffer.memory != .hbm { declaration.stage = number }
                    bufferMap[buffer.id] = merged.add(declaration)
                }
            }
            merged.append(program, buffers: bufferMap, shifts: shifts)
        }
        var chained = KernelProgram(
            name: name, buffers: merged.buffers, loopVariables: merged.variables, body: merged.body)
        chained.cores = cores
        chained.coreVariable = cores > 1 ? merged.coreVariable : nil
        return chained
    }
}

/// The chained program as it is assembled: buffers and loop variables renamed where names clash.
private struct Merge {
    let cores: Int
    var buffers: [BufferDecl] = []
    var variables: [LoopVar] = []
    var body: [Stmt] = []
    /// The one core index every stage shares.
    var coreVariable: Int

    init(cores: Int) {
        self.cores = cores
        variables = cores > 1 ? [LoopVar(id: 0, name: "core")] : []
        coreVariable = 0
    }

    mutating func add(_ buffer: BufferDecl) -> Int {
        var declaration = buffer
        declaration.id = buffers.count
        declaration.name = unique(buffer.name, taken: Set(buffers.map(\.name)))
        buffers.append(declaration)
        return declaration.id
    }

    private func unique(_ name: String, taken: Set<String>) -> String {
        guard taken.contains(name) else { return name }
        var suffix = 2
        while taken.contains("\(name)_\(suffix)") { suffix += 1 }
        return "\(name)_\(suffix)"
    }

    /// Appends a stage's body with its buffers and loop variables renumbered; `shifts` moves the
    /// first dimension of the per-core intermediates it reads to the running core's copy.
    mutating func append(_ program: KernelProgram, buffers bufferMap: [Int: Int], shifts: [Int: Int]) {
        var variableMap: [Int: Int] = [:]
        for variable in program.loopVariables {
            if variable.id == program.coreVariable {
                variableMap[variable.id] = coreVariable
                continue
            }
            let id = variables.count
            variables.append(LoopVar(id: id, name: unique(variable.name, taken: Set(variables.map(\.name)))))
            variableMap[variable.id] = id
        }
        let core = coreVariable
        func affine(_ expression: Affine) -> Affine {
            Affine(
                terms: expression.terms.map {
                    Affine.Term(variable: variableMap[$0.variable]!, coefficient: $0.coefficient)
                },
                constant: expression.constant)
        }
        func range(_ range: AffineRange) -> AffineRange {
            AffineRange(
                start: affine(range.start), size: range.size, limit: range.limit.map(affine), stride: range.stride)
        }
        func access(_ old: Access) -> Access {
            var new = old
            new.buffer = bufferMap[old.buffer]!
            new.ranges = old.ranges.map(range)
            if let dynamic = old.dynamic {
                new.dynamic = DynamicOffset(
                    dimension: dynamic.dimension, buffer: bufferMap[dynamic.buffer]!, ranges: dynamic.ranges.map(range))
            }
            if let rows = shifts[new.buffer] {
                new.ranges[0].start = new.ranges[0].start + Affine(terms: [.init(variable: core, coefficient: rows)])
            }
            return new
        }
        func rewrite(_ statements: [Stmt]) -> [Stmt] {
            statements.map { statement in
                switch statement {
                case .loop(let loop):
                    var new = loop
                    new.variable = LoopVar(
                        id: variableMap[loop.variable.id]!, name: variables[variableMap[loop.variable.id]!].name)
                    new.limit = loop.limit.map(affine)
                    new.body = rewrite(loop.body)
                    return .loop(new)
                case .allocate(let id): return .allocate(bufferMap[id]!)
                case .barrier(let id): return .barrier(bufferMap[id]!)
                case .op(let instruction):
                    var mapped = instruction.mapAccesses(access)
                    switch mapped {
                    case .iota(let dst, let partition, let free, let offset):
                        mapped = .iota(dst: dst, partition: partition, free: free, offset: affine(offset))
                    case .matmul(let dst, let stationary, let moving, .acrossLoops(let loops)):
                        mapped = .matmul(
                            dst: dst, stationary: stationary, moving: moving,
                            accumulation: .acrossLoops(loops.map { variableMap[$0]! }))
                    default: break
                    }
                    return .op(mapped)
                }
            }
        }
        body += rewrite(program.body)
    }
}
