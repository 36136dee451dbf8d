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
        /// Elements `offset...` of an earlier stage's output in row-major order, read in the
        /// consumer's own shape: a column range of a one-row output, or a `[1, heads * d]` row read
        /// as `[heads, d]`. The chained kernel stores such an output flat (`[1, elements]`), so
        /// every access to it, the producer's and the consumers', must cover a contiguous run.
        case elements(stage: Int, index: Int, offset: Int)
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
        /// Whether the stage starts only after every core has finished the stages before it (a
        /// barrier): needed when it reads what another core wrote.
        public var waits: Bool
        /// The earlier stage at whose start this stage's ``KernelProgram/prefetch`` loads (its
        /// weights) are issued, after that stage's own loads of arguments, so they overlap the
        /// stages between; nil leaves them in place.
        public var prefetchAt: Int?

        /// Creates a value with every field given.
        public init(_ program: KernelProgram, inputs: [Source], waits: Bool = false, prefetchAt: Int? = nil) {
            precondition(program.inputs.count == inputs.count, "\(program.name): one source per input")
            self.program = program
            self.inputs = inputs
            self.waits = waits
            self.prefetchAt = prefetchAt
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
        var consumed: Set<Output> = []
        var flat: Set<Output> = []
        for source in stages.flatMap(\.inputs) {
            switch source {
            case .argument: break
            case .output(let stage, let index): consumed.insert(Output(stage: stage, index: index))
            case .elements(let stage, let index, _):
                consumed.insert(Output(stage: stage, index: index))
                flat.insert(Output(stage: stage, index: index))
            }
        }
        // One-core stages of a several-core chain run on every core, each on its own intermediates.
        var perCoreShape: [Output: [Int]] = [:]
        // Loops of one trip are inlined first, so a stage's leading loads stand at its top level.
        let programs = stages.enumerated().map { number, stage -> KernelProgram in
            let program = stage.program.inliningSingleTripLoops()
            guard cores > 1, program.cores == 1 else { return program }
            var slices: [Int: Int] = [:]
            for (index, output) in stage.program.outputs.enumerated() {
                let key = Output(stage: number, index: index)
                guard consumed.contains(key), !results.contains(key) else { continue }
                slices[output.id] = 0
                perCoreShape[key] = output.shape
            }
            return program.spread(over: cores, slicing: slices)
        }
        var merged = Merge(cores: cores)
        let core = Affine(terms: [.init(variable: merged.coreVariable, coefficient: 1)])
        var produced: [Output: Int] = [:]
        var argumentIDs: [Int: Int] = [:]
        for (number, program) in programs.enumerated() {
            let target = stages[number].prefetchAt ?? number
            precondition(target <= number, "stage \(number) prefetches at a later stage")
            let hoisted = target < number ? hoistable(program, sources: stages[number].inputs) : 0
            let prefetched = Self.allocations(program.body.prefix(hoisted))
            var bufferMap: [Int: Int] = [:]
            var layouts: [Int: Merge.Layout] = [:]
            var waitOn: Int?
            for (slot, input) in program.inputs.enumerated() {
                let key: Output
                var offset = 0
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
                    continue
                case .output(let stage, let index): key = Output(stage: stage, index: index)
                case .elements(let stage, let index, let start):
                    key = Output(stage: stage, index: index)
                    offset = start
                }
                guard let id = produced[key] else { preconditionFailure("stage \(number) reads a later output") }
                bufferMap[input.id] = id
                waitOn = waitOn ?? id
                let copy = perCoreShape[key]
                if flat.contains(key) {
                    let elements = copy?.reduce(1, *) ?? merged.buffers[id].shape.reduce(1, *)
                    precondition(
                        offset + input.shape.reduce(1, *) <= elements, "stage \(number) reads past an output's end")
                    layouts[input.id] = .flat(shape: input.shape, offset: core * (copy == nil ? 0 : elements) + offset)
                } else if let copy {
                    layouts[input.id] = .rows(core * copy[0])
                }
            }
            for buffer in program.buffers where bufferMap[buffer.id] == nil {
                var declaration = buffer
                if case .output = buffer.role {
                    let index = program.outputs.firstIndex { $0.id == buffer.id } ?? 0
                    let key = Output(stage: number, index: index)
                    declaration.role = results.contains(key) ? .output : .intermediate
                    if flat.contains(key) { declaration.shape = [1, buffer.shape.reduce(1, *)] }
                    let id = merged.add(declaration)
                    bufferMap[buffer.id] = id
                    produced[key] = id
                    // A one-core stage's copies: its accesses already start at the running core's rows.
                    if flat.contains(key) {
                        layouts[buffer.id] = .flat(shape: perCoreShape[key] ?? buffer.shape, offset: .const(0))
                    }
                } else {
                    // Buffers the hoisted loads fill live from the kernel's start.
                    if buffer.memory != .hbm && !prefetched.contains(buffer.id) { declaration.stage = number }
                    bufferMap[buffer.id] = merged.add(declaration)
                }
            }
            if stages[number].waits, cores > 1, let waitOn { merged.barriers[number] = .barrier(waitOn) }
            merged.append(program, buffers: bufferMap, layouts: layouts, hoisting: hoisted, at: target)
        }
        // Each stage: its barrier, its own loads of arguments, the loads hoisted to its start, the
        // rest of its statements. A stage's own inputs go first: it needs them before anything.
        let ownLoads = merged.sections.map { section in
            section.prefix { Self.isArgumentLoad($0, buffers: merged.buffers) }.count
        }
        let body = merged.sections.indices.flatMap { number in
            let (section, own) = (merged.sections[number], ownLoads[number])
            return (merged.barriers[number].map { [$0] } ?? []) + section.prefix(own)
                + merged.early[number, default: []] + section.dropFirst(own)
        }
        var chained = KernelProgram(
            name: name, buffers: merged.buffers, loopVariables: merged.variables, body: body)
        let early = merged.early[0, default: []].count
        chained.prefetch = early == 0 ? 0 : ownLoads[0] + early
        chained.cores = cores
        chained.coreVariable = cores > 1 ? merged.coreVariable : nil
        return chained
    }
}

extension ProgramChain {
    /// How many of a stage's leading statements can run at an earlier stage's start: its
    /// ``KernelProgram/prefetch`` statements when they read only the chained kernel's arguments
    /// (the loads of weights); else none.
    func hoistable(_ program: KernelProgram, sources: [Source]) -> Int {
        let head = KernelProgram(
            name: program.name, buffers: program.buffers, loopVariables: program.loopVariables,
            body: Array(program.body.prefix(program.prefetch)))
        let arguments = Set(
            program.inputs.enumerated().compactMap { slot, input -> Int? in
                if case .argument = sources[slot] { return input.id }
                return nil
            })
        var readsArguments = true
        head.forEachInstruction { instruction, _ in
            for access in instruction.sources + instruction.destinations
            where program.buffers[access.buffer].memory == .hbm && !arguments.contains(access.buffer) {
                readsArguments = false
            }
        }
        return readsArguments ? program.prefetch : 0
    }

    /// Whether a statement only allocates a tile, clears one, or loads an argument into one: a
    /// stage's leading run of these needs nothing an earlier statement computes.
    static func isArgumentLoad(_ statement: Stmt, buffers: [BufferDecl]) -> Bool {
        switch statement {
        case .allocate, .op(.memset): return true
        case .op(.dma(_, let src, _)):
            guard src.dynamic == nil, case .input = buffers[src.buffer].role else { return false }
            return true
        case .op, .loop, .barrier: return false
        }
    }

    /// The buffers the statements allocate.
    static func allocations(_ statements: ArraySlice<Stmt>) -> Set<Int> {
        var allocated: Set<Int> = []
        for statement in statements {
            switch statement {
            case .allocate(let id): allocated.insert(id)
            case .loop(let loop): allocated.formUnion(allocations(loop.body[...]))
            case .op, .barrier: break
            }
        }
        return allocated
    }
}

/// The chained program as it is assembled: buffers and loop variables renamed where names clash.
private struct Merge {
    let cores: Int
    var buffers: [BufferDecl] = []
    var variables: [LoopVar] = []
    /// Each stage's statements, in stage order.
    var sections: [[Stmt]] = []
    /// The barrier each stage starts with, by stage.
    var barriers: [Int: Stmt] = [:]
    /// Later stages' hoisted loads, by the stage they start with.
    var early: [Int: [Stmt]] = [:]
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

    /// How a stage's accesses to an intermediate land in the chained kernel's tensor.
    enum Layout {
        /// The first dimension moves by this (to the running core's copy).
        case rows(Affine)
        /// The tensor is stored flat: an access to the stage's `shape` becomes the contiguous run
        /// it covers, moved by `offset` elements.
        case flat(shape: [Int], offset: Affine)
    }

    /// Appends a stage's body with its buffers and loop variables renumbered and its accesses to
    /// intermediates moved by `layouts` (keyed by the stage's own buffer ids); its first `hoisting`
    /// statements go to the start of stage `at`.
    mutating func append(
        _ program: KernelProgram, buffers bufferMap: [Int: Int], layouts: [Int: Layout], hoisting: Int, at: Int
    ) {
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
                new.dynamic?.buffer = bufferMap[dynamic.buffer]!
                new.dynamic?.ranges = dynamic.ranges.map(range)
            }
            switch layouts[old.buffer] {
            case .rows(let shift): new.ranges[0].start = new.ranges[0].start + shift
            case .flat(let shape, let offset): new = Self.flatten(new, shape: shape, offset: offset)
            case nil: break
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
                    new.runtime = loop.runtime.map {
                        RuntimeCount(source: access($0.source), expected: affine($0.expected))
                    }
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
        let statements = rewrite(program.body)
        early[at, default: []] += statements.prefix(hoisting).map(Self.onPrefetchQueue)
        sections.append(Array(statements.dropFirst(hoisting)))
    }

    /// The DMA stream hoisted loads run on: one the stages' own loads do not use, so the stages'
    /// loads do not wait behind them on an in-order queue.
    static let prefetchQueue = 3

    /// The statement with its DMAs on ``prefetchQueue``.
    static func onPrefetchQueue(_ statement: Stmt) -> Stmt {
        switch statement {
        case .loop(var loop):
            loop.body = loop.body.map(onPrefetchQueue)
            return .loop(loop)
        case .op(.dma(let dst, let src, _)): return .op(.dma(dst: dst, src: src, queue: prefetchQueue))
        case .op, .allocate, .barrier: return statement
        }
    }

    /// The contiguous run `access` covers in a row-major tensor of `shape`, as `[0:1, start:start+n]`
    /// of the flat tensor, moved by `offset`. A range over a dimension of one element (a tile of
    /// rows clamped to a single row) covers that element.
    /// Only the run's own dimension may be clamped by a limit.
    static func flatten(_ access: Access, shape: [Int], offset: Affine) -> Access {
        let ranges = access.ranges
        precondition(access.dynamic == nil && ranges.count == shape.count, "a flat intermediate is read plainly")
        let sizes = ranges.indices.map { shape[$0] == 1 ? 1 : ranges[$0].size }
        let first = sizes.firstIndex { $0 > 1 } ?? ranges.count - 1
        var start = offset
        var stride = 1
        var limit: Affine?
        for dimension in ranges.indices.reversed() {
            let range = ranges[dimension]
            if dimension > first, shape[dimension] > 1 {
                precondition(
                    range.start == .const(0) && range.size == shape[dimension] && range.limit == nil,
                    "an access to a flat intermediate covers whole inner dimensions")
            }
            if dimension < first, shape[dimension] > 1 {
                precondition(range.limit == nil, "an access to a flat intermediate is clamped in its run's dimension")
            }
            precondition(sizes[dimension] == 1 || range.stride == 1, "a flat intermediate is read without strides")
            // Elements left from the start: whole units of the run's dimension. A dimension of one
            // element is read whole: its limit clamps only tiles past that element, which the
            // stage's own loops never start.
            if let bound = range.limit, dimension == first, shape[dimension] > 1 { limit = bound * stride }
            start = start + range.start * stride
            stride *= shape[dimension]
        }
        let count = sizes[first] * shape[(first + 1)...].reduce(1, *)
        var flat = access
        flat.ranges = [.index(.const(0)), AffineRange(start: start, size: count, limit: limit)]
        return flat
    }
}
