extension Instruction {
    /// The same instruction with every region passed through `transform` (run-time offset indices
    /// stay as they are).
    public func mapAccesses(_ transform: (Access) -> Access) -> Instruction {
        let t = transform
        switch self {
        case .dma(let dst, let src, let queue): return .dma(dst: t(dst), src: t(src), queue: queue)
        case .dmaAdd(let dst, let src, let queue): return .dmaAdd(dst: t(dst), src: t(src), queue: queue)
        case .dmaTranspose(let dst, let src, let queue): return .dmaTranspose(dst: t(dst), src: t(src), queue: queue)
        case .matmul(let dst, let stationary, let moving, let accumulation):
            return .matmul(dst: t(dst), stationary: t(stationary), moving: t(moving), accumulation: accumulation)
        case .transpose(let dst, let src): return .transpose(dst: t(dst), src: t(src))
        case .activation(let dst, let src, let function, let scale, let bias, let reduce):
            return .activation(
                dst: t(dst), src: t(src), function: function, scale: scale, bias: bias.map(t), reduce: reduce.map(t))
        case .tensorTensor(let dst, let a, let b, let op, let engine):
            return .tensorTensor(dst: t(dst), a: t(a), b: t(b), op: op, engine: engine)
        case .tensorScalar(let dst, let src, let steps, let engine):
            let mapped = steps.map { step -> ScalarStep in
                guard case .perPartition(let access) = step.operand else { return step }
                return ScalarStep(step.op, .perPartition(t(access)))
            }
            return .tensorScalar(dst: t(dst), src: t(src), steps: mapped, engine: engine)
        case .tensorReduce(let dst, let src, let op): return .tensorReduce(dst: t(dst), src: t(src), op: op)
        case .iota(let dst, let partition, let free, let offset):
            return .iota(dst: t(dst), partition: partition, free: free, offset: offset)
        case .max8(let dst, let src): return .max8(dst: t(dst), src: t(src))
        case .findIndex8(let dst, let data, let values):
            return .findIndex8(dst: t(dst), data: t(data), values: t(values))
        case .copy(let dst, let src, let engine): return .copy(dst: t(dst), src: t(src), engine: engine)
        case .memset(let dst, let value, let engine): return .memset(dst: t(dst), value: value, engine: engine)
        }
    }
}

extension KernelProgram {
    /// This one-core program run by `cores` cores side by side, each on its own slice of some HBM
    /// tensors: for every `buffer id: dimension` in `slices`, the tensor grows `cores`-fold along
    /// that dimension and core `c` reads or writes slice `c` of it. Tensors not listed are shared
    /// whole (every core reads all of an input; no two cores may write the same output region).
    ///
    /// ```swift
    /// // Y[M, N] = X W with each core on half of N: W and Y are sliced along their columns.
    /// let half = template.program(for: halfProblem, configuration: configuration)
    /// let both = half.spread(over: 2, slicing: [w.id: 1, y.id: 1])
    /// ```
    ///
    /// A program that already names the running core in some accesses (to split work it shares
    /// out itself) passes that loop variable as `coreVariable`; it must enclose no loop.
    public func spread(over cores: Int, slicing slices: [Int: Int], coreVariable: Int? = nil) -> KernelProgram {
        precondition(self.cores == 1, "\(name) already runs on several cores")
        precondition(slices.keys.allSatisfy { buffers[$0].memory == .hbm }, "only HBM tensors are sliced")
        var program = self
        let core: LoopVar
        if let coreVariable {
            core = loopVariables[coreVariable]
        } else {
            core = LoopVar(id: loopVariables.count, name: "core")
            program.loopVariables.append(core)
        }
        for (id, dimension) in slices { program.buffers[id].shape[dimension] *= cores }
        let original = buffers
        func shift(_ access: Access) -> Access {
            guard let dimension = slices[access.buffer] else { return access }
            var shifted = access
            shifted.ranges[dimension].start =
                access.ranges[dimension].start + .term(core, original[access.buffer].shape[dimension])
            return shifted
        }
        func rewrite(_ statements: [Stmt]) -> [Stmt] {
            statements.map { statement in
                switch statement {
                case .loop(var loop):
                    loop.body = rewrite(loop.body)
                    return .loop(loop)
                case .op(let instruction): return .op(instruction.mapAccesses(shift))
                case .allocate, .barrier: return statement
                }
            }
        }
        program.body = rewrite(body)
        program.cores = cores
        program.coreVariable = core.id
        return program
    }
}

extension KernelProgram {
    /// Turns an output that ``spread(over:slicing:)`` sliced along its last dimension into partial
    /// sums, one slice per core (`[R, cores * C]`), and adds a new output `[R, C]` of the same name
    /// and of type `dtype` (default: the partials') that holds their sum: after a barrier, core `c`
    /// adds the partials' columns `c * C / cores ..< (c + 1) * C / cores`, 128 rows at a time in fp32,
    /// on `engine`. With `rows`, the sum holds the partials' first `rows` rows only (the rest are
    /// scratch the program writes past them).
    public func summingPartials(of output: Int, engine: Engine, as dtype: DType? = nil, rows: Int? = nil)
        -> KernelProgram
    {
        guard let core = coreVariable.map({ loopVariables[$0] }) else {
            preconditionFailure("\(name) runs on one core: there are no partial sums")
        }
        var program = self
        let partials = buffers[output]
        let (rows, columns) = (rows ?? partials.shape[0], partials.shape[1] / cores)
        let share = columns / cores
        precondition(partials.shape.count == 2 && columns % cores == 0, "partials split by whole column shares")
        program.buffers[output].role = .scratch
        program.buffers[output].name = "\(partials.name)_partials"
        func declare(_ name: String, _ memory: Memory, _ shape: [Int], _ dtype: DType, role: TensorRole) -> BufferDecl {
            let decl = BufferDecl(
                id: program.buffers.count, name: name, memory: memory, shape: shape, dtype: dtype,
                copies: memory == .hbm ? 1 : 2, role: role)
            program.buffers.append(decl)
            return decl
        }
        let sum = declare(partials.name, .hbm, [rows, columns], dtype ?? partials.dtype, role: .output)
        let tileRows = min(128, rows)
        let parts = (0..<cores).map { declare("partial_\($0)", .sbuf, [tileRows, share], .fp32, role: .scratch) }
        let total = declare("partial_sum", .sbuf, [tileRows, share], dtype ?? partials.dtype, role: .scratch)
        let tile = LoopVar(id: program.loopVariables.count, name: "rt")
        program.loopVariables.append(tile)
        let start = Affine.term(tile, tileRows)
        let limit: Affine? = rows % tileRows == 0 ? nil : .const(rows) + (-start)
        let hbmRows = AffineRange(start: start, size: tileRows, limit: limit)
        let sbufRows = AffineRange(start: .const(0), size: tileRows, limit: limit)
        let own = AffineRange(start: .term(core, share), size: share)
        var body: [Stmt] = []
        for (source, part) in parts.enumerated() {
            let columns = AffineRange(start: .term(core, share) + source * columns, size: share)
            body += [
                .allocate(part.id),
                .op(
                    .dma(
                        dst: Access(part, [sbufRows, .full(share)]),
                        src: Access(program.buffers[output], [hbmRows, columns]),
                        queue: source)),
            ]
        }
        body.append(.allocate(total.id))
        var accumulated = Access(parts[0], [sbufRows, .full(share)])
        for (index, part) in parts.enumerated().dropFirst() {
            let destination =
                index == parts.count - 1 ? Access(total, [sbufRows, .full(share)]) : accumulated
            body.append(
                .op(
                    .tensorTensor(
                        dst: destination, a: accumulated, b: Access(part, [sbufRows, .full(share)]), op: .add,
                        engine: engine)))
            accumulated = destination
        }
        body.append(.op(.dma(dst: Access(sum, [hbmRows, own]), src: accumulated, queue: 0)))
        program.body += [
            .barrier(output), .loop(Loop(tile, trips: (rows + tileRows - 1) / tileRows, body: body)),
        ]
        return program
    }
}
