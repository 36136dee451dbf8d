import KernelSpace

/// A kernel program lowered for fast simulation: expressions, ranges, accesses, instructions and
/// loops live in flat arrays of plain values addressed by index, so the hot loop copies no arrays
/// and touches no reference counts.
struct FlatProgram {
    // Affine expressions: constant plus terms[termStart ..< termStart + termCount].
    var expressionConstant: [Int] = []
    var expressionTermStart: [Int] = []
    var expressionTermCount: [Int] = []
    var termVariable: [Int] = []
    var termCoefficient: [Int] = []
    // Ranges: start expression, size, limit expression (-1 for none).
    var rangeStart: [Int] = []
    var rangeSize: [Int] = []
    var rangeLimit: [Int] = []
    /// Elements between consecutive indices of each range.
    var rangeStride: [Int] = []
    // Accesses: buffer and ranges[rangeFirst ..< rangeFirst + rangeCount].
    var accessBuffer: [Int] = []
    var accessRangeFirst: [Int] = []
    var accessRangeCount: [Int] = []
    /// Whether an access reads its position from a tensor at run time (it may touch any part of
    /// its buffer).
    var accessDynamic: [Bool] = []
    var ops: [FlatOp] = []
    var nodes: [FlatNode] = []
    /// Top-level nodes.
    var root: Range<Int> = 0..<0
    let buffers: [BufferDecl]
    /// HBM tensors whose reads wait for earlier writes: chained stages' intermediates, arguments
    /// the program updates in place, and the tensors core barriers name.
    let orderedHBM: Set<Int>
    let variableCount: Int
    /// Physical cores that run the program, and the variable holding each one's index.
    let cores: Int
    let coreVariable: Int?

    /// The top-level nodes between barriers, each with the buffer of the barrier that ends it (nil
    /// for the last).
    var phases: [(nodes: Range<Int>, barrier: Int?)] {
        var phases: [(nodes: Range<Int>, barrier: Int?)] = []
        var start = root.lowerBound
        for index in root where nodes[index].kind == .barrier {
            phases.append((start..<index, nodes[index].value))
            start = index + 1
        }
        phases.append((start..<root.upperBound, nil))
        return phases
    }

    init(_ program: KernelProgram, target: Target) {
        buffers = program.buffers
        orderedHBM = program.updatedInputs.union(program.buffers.filter { $0.role == .intermediate }.map(\.id))
            .union(program.barrierBuffers)
        variableCount = program.loopVariables.count
        cores = program.cores
        coreVariable = program.coreVariable
        root = lower(program.body, target)
    }

    private mutating func expression(_ affine: Affine) -> Int {
        expressionConstant.append(affine.constant)
        expressionTermStart.append(termVariable.count)
        expressionTermCount.append(affine.terms.count)
        for term in affine.terms {
            termVariable.append(term.variable)
            termCoefficient.append(term.coefficient)
        }
        return expressionConstant.count - 1
    }

    private mutating func access(_ access: Access) -> Int {
        accessBuffer.append(access.buffer)
        accessRangeFirst.append(rangeStart.count)
        accessRangeCount.append(access.ranges.count)
        accessDynamic.append(access.dynamic != nil)
        for range in access.ranges {
            let start = expression(range.start)
            let limit = range.limit.map { expression($0) } ?? -1
            rangeStart.append(start)
            rangeSize.append(range.size)
            rangeLimit.append(limit)
            rangeStride.append(range.stride)
        }
        return accessBuffer.count - 1
    }

    /// Lowers statements, appending their nodes contiguously; returns their index range.
    private mutating func lower(_ statements: [Stmt], _ target: Target) -> Range<Int> {
        let first = nodes.count
        nodes.append(
            contentsOf: repeatElement(
                FlatNode(kind: .allocate, value: 0, trips: 0, body: 0..<0), count: statements.count))
        for (offset, statement) in statements.enumerated() {
            switch statement {
            case .loop(let loop):
                let body = lower(loop.body, target)
                // A count read on the device is timed at the count the problem's scenario gives.
                let limit = (loop.runtime?.expected ?? loop.limit).map { expression($0) } ?? -1
                nodes[first + offset] = FlatNode(
                    kind: .loop, value: loop.variable.id, trips: loop.trips, body: body, limit: limit)
            case .allocate(let buffer):
                nodes[first + offset] = FlatNode(kind: .allocate, value: buffer, trips: 0, body: 0..<0)
            case .op(let instruction):
                ops.append(lowerOp(instruction, target))
                nodes[first + offset] = FlatNode(kind: .op, value: ops.count - 1, trips: 0, body: 0..<0)
            case .barrier(let buffer):
                nodes[first + offset] = FlatNode(kind: .barrier, value: buffer, trips: 0, body: 0..<0)
            }
        }
        return first..<(first + statements.count)
    }

    private mutating func lowerOp(_ instruction: Instruction, _ target: Target) -> FlatOp {
        let (buffers, orderedHBM) = (self.buffers, self.orderedHBM)
        // Dependencies are tracked on chip, through the HBM tensors chained stages pass on, and
        // through arguments updated in place.
        let onChip = { (access: Access) in
            buffers[access.buffer].memory != .hbm || orderedHBM.contains(access.buffer)
        }
        var op = FlatOp()
        op.engine = instruction.engine
        op.clamped = (instruction.destinations + instruction.sources).contains { $0.isClamped }
        var reads: [Int] = []
        var seen: [Access] = []
        for source in instruction.sources where onChip(source) && !seen.contains(source) {
            seen.append(source)
            reads.append(access(source))
        }
        op.read0 = reads.count > 0 ? reads[0] : -1
        op.read1 = reads.count > 1 ? reads[1] : -1
        op.read2 = reads.count > 2 ? reads[2] : -1
        op.write = onChip(instruction.destination) ? access(instruction.destination) : -1
        if instruction.destinations.count > 1 { op.write2 = access(instruction.destinations[1]) }
        op.destination = access(instruction.destination)
        let fp32Factor = { (access: Access) in buffers[access.buffer].dtype == .fp32 ? target.fp32MatmulFactor : 1 }
        func bf16SBUF(_ access: Access) -> Bool {
            buffers[access.buffer].dtype == .bf16 && buffers[access.buffer].memory == .sbuf
        }
        func inPSUM(_ access: Access) -> Bool { buffers[access.buffer].memory == .psum }
        op.touchesPSUM = (instruction.destinations + instruction.sources).contains(where: inPSUM)
        switch instruction {
        case .matmul(_, let stationary, let moving, _):
            op.kind = .matmul
            op.operand0 = access(stationary)
            op.operand1 = access(moving)
            op.factor = fp32Factor(stationary)
        case .transpose(_, let src):
            op.kind = .transpose
            op.operand0 = access(src)
            op.factor = fp32Factor(src)
        case .activation(_, let src, _, _, _, let reduce):
            op.kind = .elementwise
            op.operand0 = access(src)
            if reduce != nil { op.extraCycles = target.minimumCycles }
        case .tensorReduce(_, let src, let op0):
            op.kind = .elementwise
            op.operand0 = access(src)
            if buffers[src.buffer].dtype == .bf16 && (op0 == .add || op0 == .maximum) { op.factor = 0.5 }
        case .iota(let dst, _, _, _):
            op.kind = .elementwise
            op.operand0 = access(dst)
            op.extraCycles = target.selectCycles
        case .max8(_, let src), .findIndex8(_, let src, _):
            op.kind = .elementwise
            op.operand0 = access(src)
        case .tensorTensor(let dst, let a, let b, _, let engine):
            op.kind = .elementwise
            op.operand0 = op.destination
            let allBF16 = bf16SBUF(a) && bf16SBUF(b) && bf16SBUF(dst)
            op.factor = inPSUM(a) || inPSUM(b) || allBF16 ? 1 : 2
            if engine == .vector && target.vectorPerformanceMode && allBF16 { op.factor /= 2 }
        case .tensorScalar(let dst, let src, _, let engine), .copy(let dst, let src, let engine):
            op.kind = .elementwise
            op.operand0 = op.destination
            if engine == .vector && target.vectorPerformanceMode && bf16SBUF(src) && bf16SBUF(dst) { op.factor = 0.25 }
        case .memset(let dst, let value, _):
            op.kind = .elementwise
            op.operand0 = op.destination
            if value == 0 && buffers[dst.buffer].dtype == .bf16 { op.factor = 0.5 }
        case .dma(let dst, let src, let queue), .dmaTranspose(let dst, let src, let queue),
            .dmaAdd(let dst, let src, let queue):
            if case .dmaTranspose = instruction { op.kind = .dmaTranspose } else { op.kind = .dma }
            op.queue = queue
            op.operand0 = access(buffers[dst.buffer].memory == .hbm ? src : dst)
            op.elementSize = buffers[src.buffer].dtype.size
            op.timedRows = src.dynamic?.expectedRows ?? dst.dynamic?.expectedRows ?? Int.max
        }
        return op
    }

    @inline(__always)
    func evaluate(_ expression: Int, _ environment: UnsafeMutableBufferPointer<Int>) -> Int {
        var value = expressionConstant[expression]
        let start = expressionTermStart[expression]
        for term in start..<(start + expressionTermCount[expression]) {
            value += termCoefficient[term] * environment[termVariable[term]]
        }
        return value
    }

    @inline(__always)
    func extent(_ range: Int, _ environment: UnsafeMutableBufferPointer<Int>) -> Int {
        let limit = rangeLimit[range]
        guard limit >= 0 else { return rangeSize[range] }
        return max(0, min(rangeSize[range], evaluate(limit, environment)))
    }

    /// Partitions and free elements of an access.
    @inline(__always)
    func shape(_ access: Int, _ environment: UnsafeMutableBufferPointer<Int>) -> (partitions: Int, free: Int) {
        let first = accessRangeFirst[access]
        var free = 1
        for range in (first + 1)..<(first + accessRangeCount[access]) { free *= extent(range, environment) }
        return (extent(first, environment), free)
    }

    /// Whether any range of an access is empty.
    @inline(__always)
    func isEmpty(_ access: Int, _ environment: UnsafeMutableBufferPointer<Int>) -> Bool {
        let first = accessRangeFirst[access]
        for range in first..<(first + accessRangeCount[access]) where extent(range, environment) == 0 { return true }
        return false
    }
}

/// A lowered instruction: plain values only.
struct FlatOp {
    enum Kind {
        case matmul, transpose, elementwise, dma, dmaTranspose

        var name: String {
            switch self {
            case .matmul: "matmul"
            case .transpose: "transpose"
            case .elementwise: "elementwise"
            case .dma: "dma"
            case .dmaTranspose: "dma_transpose"
            }
        }
    }

    var kind = Kind.elementwise
    var engine = Engine.vector
    var clamped = false
    var touchesPSUM = false
    /// Accesses (indices into the access arrays), -1 when absent.
    var destination = -1
    var write = -1
    /// The second destination (the row sums of `activation_reduce`), -1 when absent.
    var write2 = -1
    /// Cycles added to the rule (a fused reduction).
    var extraCycles: Double = 0
    var read0 = -1
    var read1 = -1
    var read2 = -1
    /// Matmul: stationary and moving; transpose: source; elementwise: the access whose free size counts;
    /// DMA: the on-chip side.
    var operand0 = -1
    var operand1 = -1
    /// Cycle multiplier (fp32 matmul 4x, tensor_tensor 2x, performance mode 1/2 or 1/4).
    var factor: Double = 1
    var queue = 0
    var elementSize = 2
    /// DMA: the most rows (partitions) timed, for rows at run-time offsets of which the problem's
    /// scenario expects only some in range (the rest are skipped).
    var timedRows = Int.max

    /// The on-chip regions read, without allocating.
    var reads: FixedTriple { FixedTriple(read0, read1, read2) }

    /// Every access of the instruction (-1 where absent), for the empty-tile test.
    var accesses: FixedTriple { FixedTriple(destination, operand0, operand1) }

    /// The on-chip regions written.
    var writes: FixedTriple { FixedTriple(write, write2, -1) }
}

/// Three access indices iterated without a heap allocation.
struct FixedTriple: Sequence, IteratorProtocol {
    private var values: (Int, Int, Int)
    private var position = 0

    init(_ a: Int, _ b: Int, _ c: Int) { values = (a, b, c) }

    mutating func next() -> Int? {
        defer { position += 1 }
        switch position {
        case 0: return values.0
        case 1: return values.1
        case 2: return values.2
        default: return nil
        }
    }
}

/// A lowered statement: a loop with its body's node range, an allocation, an instruction, or a
/// barrier between the cores.
struct FlatNode {
    enum Kind { case loop, allocate, op, barrier }

    var kind: Kind
    /// Loop variable, buffer, or op index.
    var value: Int
    var trips: Int
    var body: Range<Int>
    /// Expression capping a loop's trips (a triangular loop), -1 for none.
    var limit = -1
}
