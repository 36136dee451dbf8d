/// Runs a ``KernelProgram`` on the CPU: fp32 arithmetic, values rounded to bf16 when written to a
/// bf16 buffer, PSUM accumulation in fp32 in contraction order. Each ``Stmt/allocate(_:)`` fills
/// the buffer with NaN, so a kernel that reads data it never wrote produces NaN and fails its check.
///
/// ```swift
/// let outputs = try Interpreter.run(program, inputs: template.inputs(for: problem, configuration: config, seed: 1))
/// ```
public enum Interpreter {
    /// Executes the program on the given inputs (argument order) and returns its outputs.
    public static func run(_ program: KernelProgram, inputs: [HostTensor]) throws(KernelSpaceError) -> [HostTensor] {
        try call(program, inputs: inputs).outputs
    }

    /// Executes the program and returns its outputs and what its inputs hold afterwards: a kernel
    /// that updates an argument in place (a KV cache it appends to) leaves its writes there.
    ///
    /// ```swift
    /// let (outputs, arguments) = try Interpreter.call(program, inputs: inputs)
    /// ```
    public static func call(
        _ program: KernelProgram, inputs: [HostTensor]
    ) throws(KernelSpaceError) -> (outputs: [HostTensor], inputs: [HostTensor]) {
        let declared = program.inputs
        guard declared.count == inputs.count else {
            throw KernelSpaceError(.interpreter, "\(program.name) takes \(declared.count) inputs, got \(inputs.count)")
        }
        for (decl, tensor) in zip(declared, inputs) where decl.shape != tensor.shape {
            throw KernelSpaceError(
                .interpreter, "input \(decl.name) has shape \(tensor.shape), expected \(decl.shape)")
        }
        let cores = Array(0..<program.cores)
        let result = try run(program, inputs: inputs, coreOrder: cores)
        // Cores run at the same time on hardware: a program whose outputs depend on which core runs
        // first reads what another core writes without a barrier in between.
        if program.cores > 1 {
            let reversed = try run(program, inputs: inputs, coreOrder: cores.reversed())
            if !sameBits(reversed.outputs + reversed.inputs, result.outputs + result.inputs) {
                throw KernelSpaceError(
                    .interpreter,
                    "\(program.name): the outputs depend on the order its \(program.cores) cores run in "
                        + "(a core reads HBM another core writes without a barrier between)")
            }
        }
        return result
    }

    private static func sameBits(_ a: [HostTensor], _ b: [HostTensor]) -> Bool {
        a.count == b.count
            && zip(a, b).allSatisfy { x, y in
                x.shape == y.shape && x.data.count == y.data.count
                    && zip(x.data, y.data).allSatisfy { $0.bitPattern == $1.bitPattern }
            }
    }

    /// Runs every phase on each core in `coreOrder` before the next phase; each core keeps its own
    /// SBUF and PSUM, HBM is shared.
    private static func run(
        _ program: KernelProgram, inputs: [HostTensor], coreOrder: [Int]
    ) throws(KernelSpaceError) -> (outputs: [HostTensor], inputs: [HostTensor]) {
        var machine = Machine(program: program)
        if program.cores > 1 { machine.crossCore = CrossCoreWrites(program) }
        for (decl, tensor) in zip(program.inputs, inputs) {
            machine.storage[decl.id] = tensor.data.map(decl.dtype.round)
        }
        let onChip = program.buffers.filter { $0.memory != .hbm }.map(\.id)
        var coreStorage = [[[Float]]](repeating: onChip.map { machine.storage[$0] }, count: program.cores)
        for (number, phase) in program.phases.enumerated() {
            machine.crossCore?.phase = number
            for core in coreOrder {
                machine.crossCore?.core = core
                for (slot, id) in onChip.enumerated() { machine.storage[id] = coreStorage[core][slot] }
                var environment = [Int](repeating: 0, count: program.loopVariables.count)
                if let variable = program.coreVariable { environment[variable] = core }
                try machine.execute(phase, &environment)
                for (slot, id) in onChip.enumerated() { coreStorage[core][slot] = machine.storage[id] }
            }
        }
        let tensor = { (buffer: BufferDecl) in HostTensor(shape: buffer.shape, data: machine.storage[buffer.id]) }
        return (program.outputs.map(tensor), program.inputs.map(tensor))
    }
}

/// A resolved access: base offset, partition stride and count, and the offsets of free elements.
struct View {
    var base: Int
    var partitionStride: Int
    var partitions: Int
    var freeOffsets: [Int]
    /// For rows at run-time offsets (``OffsetKind/vector(skipsOutOfRange:)``), each partition's
    /// start; nil for a row out of range that the DMA skips.
    var rowStarts: [Int?]? = nil

    var free: Int { freeOffsets.count }
    var isEmpty: Bool { partitions == 0 || freeOffsets.isEmpty }

    @inline(__always) func offset(_ partition: Int, _ element: Int) -> Int {
        if let rowStarts { return rowStarts[partition]! + freeOffsets[element] }
        return base + partition * partitionStride + freeOffsets[element]
    }

    /// Whether a DMA moves the partition's row (false for a row out of range that it skips).
    @inline(__always) func moves(_ partition: Int) -> Bool { rowStarts == nil || rowStarts![partition] != nil }
}

struct Machine {
    let program: KernelProgram
    var storage: [[Float]]
    let strides: [[Int]]
    /// On several cores: who wrote each HBM element, to refuse a read no barrier orders.
    var crossCore: CrossCoreWrites?

    init(program: KernelProgram) {
        self.program = program
        storage = program.buffers.map { [Float](repeating: .nan, count: $0.shape.reduce(1, *)) }
        strides = program.buffers.map(\.elementStrides)
    }

    mutating func execute(_ statements: [Stmt], _ environment: inout [Int]) throws(KernelSpaceError) {
        for statement in statements {
            switch statement {
            case .loop(let loop):
                var count = loop.count(environment)
                if let runtime = loop.runtime {
                    let index = try view(runtime.source, environment)
                    guard index.partitions == 1, index.free == 1 else {
                        throw KernelSpaceError(.interpreter, "a run-time loop count must come from one element")
                    }
                    let value = Int(storage[runtime.source.buffer][index.offset(0, 0)])
                    guard value <= count else {
                        throw KernelSpaceError(
                            .interpreter,
                            "run-time count \(value) exceeds the \(count) trips of loop \(loop.variable.name)")
                    }
                    count = max(0, value)
                }
                for trip in 0..<count {
                    environment[loop.variable.id] = trip
                    try execute(loop.body, &environment)
                }
            case .allocate(let buffer):
                let count = storage[buffer].count
                storage[buffer] = [Float](repeating: .nan, count: count)
            case .op(let instruction):
                try perform(instruction, environment)
            case .barrier:
                throw KernelSpaceError(.interpreter, "\(program.name): a core barrier inside a loop")
            }
        }
    }

    func view(_ access: Access, _ environment: [Int]) throws(KernelSpaceError) -> View {
        let buffer = program.buffers[access.buffer]
        let stride = strides[access.buffer]
        var base = 0
        var extents: [Int] = []
        // Rows at run-time offsets are checked one by one (``rows(of:_:at:skipping:base:extents:_:_:)``).
        let rowsAtOffsets = access.dynamic.map { $0.kind != .scalar } ?? false
        for (dimension, range) in access.ranges.enumerated() {
            let start = range.start.evaluate(environment)
            let extent = range.extent(environment)
            let last = start + (extent - 1) * range.stride
            if extent > 0 && (start < 0 || last >= buffer.shape[dimension]) && !(rowsAtOffsets && dimension == 0) {
                throw KernelSpaceError(
                    .interpreter,
                    "access [\(start), \(last + 1)) outside dimension \(dimension) "
                        + "(size \(buffer.shape[dimension])) of \(buffer.name)")
            }
            base += start * stride[dimension]
            extents.append(extent)
        }
        var offsets = [0]
        for dimension in 1..<extents.count {
            var next: [Int] = []
            next.reserveCapacity(offsets.count * extents[dimension])
            let step = stride[dimension] * access.ranges[dimension].stride
            for offset in offsets {
                for index in 0..<extents[dimension] { next.append(offset + index * step) }
            }
            offsets = next
        }
        if let dynamic = access.dynamic, case .vector(let skips) = dynamic.kind {
            return try rows(
                of: access, buffer, at: dynamic, skipping: skips, base: base, extents: extents, offsets, environment)
        }
        if let dynamic = access.dynamic {
            let index = try view(dynamic.index, environment)
            guard index.partitions == 1, index.free == 1 else {
                throw KernelSpaceError(.interpreter, "a run-time offset of \(buffer.name) must come from one element")
            }
            let value = Int(storage[dynamic.buffer][index.offset(0, 0)])
            let dimension = dynamic.dimension
            let start = access.ranges[dimension].start.evaluate(environment) + value
            if value < 0 || start + extents[dimension] > buffer.shape[dimension] {
                throw KernelSpaceError(
                    .interpreter, "run-time offset \(value) puts dimension \(dimension) of \(buffer.name) out of bounds"
                )
            }
            base += value * stride[dimension]
        }
        return View(
            base: base, partitionStride: stride[0] * access.ranges[0].stride, partitions: extents[0],
            freeOffsets: offsets)
    }

    /// The view of rows at run-time offsets: partition `i` starts at row `start + index[i]` of the
    /// first dimension (`base` already holds the start).
    private func rows(
        of access: Access, _ buffer: BufferDecl, at dynamic: DynamicOffset, skipping: Bool, base: Int, extents: [Int],
        _ offsets: [Int], _ environment: [Int]
    ) throws(KernelSpaceError) -> View {
        let index = try view(dynamic.index, environment)
        guard dynamic.dimension == 0, index.partitions == extents[0], index.free == 1 else {
            throw KernelSpaceError(
                .interpreter, "row offsets of \(buffer.name) must be one value per row (\(extents[0]) rows)")
        }
        let start = access.ranges[0].start.evaluate(environment)
        let starts = (0..<extents[0]).map { row -> Int? in
            let value = Int(storage[dynamic.buffer][index.offset(row, 0)])
            guard (0..<buffer.shape[0]).contains(start + value) else { return nil }
            return base + value * strides[access.buffer][0]
        }
        if !skipping, let row = starts.firstIndex(where: { $0 == nil }) {
            let value = Int(storage[dynamic.buffer][index.offset(row, 0)])
            throw KernelSpaceError(
                .interpreter,
                "run-time row offset \(value) puts row \(row) outside \(buffer.name) (\(buffer.shape[0]) rows)")
        }
        return View(base: base, partitionStride: 0, partitions: extents[0], freeOffsets: offsets, rowStarts: starts)
    }

    func read(_ view: View, _ buffer: Int) -> [Float] {
        var values = [Float](repeating: 0, count: view.partitions * view.free)
        storage[buffer].withUnsafeBufferPointer { data in
            for partition in 0..<view.partitions where view.moves(partition) {
                for element in 0..<view.free {
                    values[partition * view.free + element] = data[view.offset(partition, element)]
                }
            }
        }
        return values
    }

    /// Writes `values` into the view's rows, except those it skips and those `source` skips (a
    /// gather's rows out of range leave their destination rows as they were).
    mutating func write(_ values: [Float], _ view: View, _ buffer: Int, source: View? = nil) {
        let dtype = program.buffers[buffer].dtype
        storage[buffer].withUnsafeMutableBufferPointer { data in
            for partition in 0..<view.partitions where view.moves(partition) && source?.moves(partition) ?? true {
                for element in 0..<view.free {
                    data[view.offset(partition, element)] = dtype.round(values[partition * view.free + element])
                }
            }
        }
    }

    /// Checks a DMA's HBM reads against the other cores' writes, then records its HBM write.
    private mutating func order(_ instruction: Instruction, _ dst: View, _ environment: [Int]) throws(KernelSpaceError)
    {
        let source: Access
        switch instruction {
        case .dma(_, let src, _), .dmaTranspose(_, let src, _): source = src
        case .dmaAdd(let destination, let src, _):
            source = src
            if crossCore?.tracks(destination.buffer) == true {
                try crossCore?.checkRead(dst, of: destination.buffer, in: program)
            }
        default: return
        }
        if crossCore?.tracks(source.buffer) == true {
            try crossCore?.checkRead(view(source, environment), of: source.buffer, in: program)
        }
        let target = instruction.destination.buffer
        if program.buffers[target].memory == .hbm {
            crossCore?.recordWrite(dst, to: target, count: storage[target].count)
        }
    }

    private func name(_ access: Access) -> String { program.buffers[access.buffer].name }

    private func requireSameShape(_ a: View, _ b: View, _ what: String) throws(KernelSpaceError) {
        guard a.partitions == b.partitions && a.free == b.free else {
            throw KernelSpaceError(
                .interpreter, "\(what): shapes [\(a.partitions), \(a.free)] and [\(b.partitions), \(b.free)] differ")
        }
    }

    mutating func perform(_ instruction: Instruction, _ environment: [Int]) throws(KernelSpaceError) {
        let dst = try view(instruction.destination, environment)
        if dst.isEmpty { return }
        let target = instruction.destination.buffer
        if crossCore != nil { try order(instruction, dst, environment) }
        switch instruction {
        case .dma(_, let src, _), .copy(_, let src, _):
            let source = try view(src, environment)
            let touchesHBM = program.buffers[src.buffer].memory == .hbm || program.buffers[target].memory == .hbm
            if case .dma = instruction, touchesHBM {
                // A DMA streams elements: HBM regions need only the same number of elements.
                guard source.partitions * source.free == dst.partitions * dst.free else {
                    throw KernelSpaceError(
                        .interpreter,
                        "DMA into \(name(instruction.destination)): \(source.partitions * source.free) elements "
                            + "for \(dst.partitions * dst.free)")
                }
            } else {
                try requireSameShape(dst, source, "copy into \(name(instruction.destination))")
            }
            if source.rowStarts != nil || dst.rowStarts != nil {
                try requireSameShape(
                    dst, source, "DMA of rows at run-time offsets into \(name(instruction.destination))")
            }
            write(read(source, src.buffer), dst, target, source: source)
        case .dmaAdd(_, let src, _):
            let source = try view(src, environment)
            guard source.partitions * source.free == dst.partitions * dst.free else {
                throw KernelSpaceError(
                    .interpreter, "DMA add into \(name(instruction.destination)): element counts differ")
            }
            if source.rowStarts != nil || dst.rowStarts != nil {
                try requireSameShape(
                    dst, source, "DMA add of rows at run-time offsets into \(name(instruction.destination))")
            }
            write(zip(read(dst, target), read(source, src.buffer)).map { $0 + $1 }, dst, target)
        case .dmaTranspose(_, let src, _), .transpose(_, let src):
            let source = try view(src, environment)
            guard source.partitions == dst.free && source.free == dst.partitions else {
                throw KernelSpaceError(
                    .interpreter, "transpose into \(name(instruction.destination)): shapes do not match")
            }
            let values = read(source, src.buffer)
            var flipped = [Float](repeating: 0, count: values.count)
            for row in 0..<source.partitions {
                for column in 0..<source.free {
                    flipped[column * source.partitions + row] = values[row * source.free + column]
                }
            }
            write(flipped, dst, target)
        case .matmul(_, let stationary, let moving, let accumulation):
            try multiply(dst: dst, target: target, stationary: stationary, moving: moving, accumulation, environment)
        case .activation(_, let src, let function, let scale, let bias, let reduce):
            let source = try view(src, environment)
            try requireSameShape(dst, source, "activation into \(name(instruction.destination))")
            let offsets = try bias.map { bias throws(KernelSpaceError) in
                try column(bias, rows: dst.partitions, environment)
            }
            var values = read(source, src.buffer)
            for partition in 0..<dst.partitions {
                let shift = offsets?[partition] ?? 0
                for element in 0..<dst.free {
                    let index = partition * dst.free + element
                    values[index] = function.apply(values[index] * scale + shift)
                }
            }
            write(values, dst, target)
            if let reduce {
                let sums = try view(reduce, environment)
                let rounded = read(dst, target)
                var totals = [Float](repeating: 0, count: dst.partitions)
                for partition in 0..<dst.partitions {
                    for element in 0..<dst.free { totals[partition] += rounded[partition * dst.free + element] }
                }
                write(totals, sums, reduce.buffer)
            }
        case .tensorTensor(_, let a, let b, let op, _):
            let left = try view(a, environment)
            let right = try view(b, environment)
            try requireSameShape(dst, left, "tensor_tensor into \(name(instruction.destination))")
            try requireSameShape(dst, right, "tensor_tensor into \(name(instruction.destination))")
            let values = zip(read(left, a.buffer), read(right, b.buffer)).map { op.apply($0, $1) }
            write(values, dst, target)
        case .tensorScalar(_, let src, let steps, _):
            let source = try view(src, environment)
            try requireSameShape(dst, source, "tensor_scalar into \(name(instruction.destination))")
            var values = read(source, src.buffer)
            for step in steps {
                switch step.operand {
                case .immediate(let operand):
                    for index in values.indices { values[index] = step.op.apply(values[index], operand) }
                case .perPartition(let access):
                    let operands = try column(access, rows: dst.partitions, environment)
                    for partition in 0..<dst.partitions {
                        for element in 0..<dst.free {
                            let index = partition * dst.free + element
                            values[index] = step.op.apply(values[index], operands[partition])
                        }
                    }
                }
            }
            write(values, dst, target)
        case .tensorReduce(_, let src, let op):
            let source = try view(src, environment)
            // [P, 1] of everything, or [P, F] of F runs along src's last dimension.
            let runs = dst.free
            let run = runs > 0 && source.free % runs == 0 ? source.free / runs : 0
            guard dst.partitions == source.partitions, run > 0, runs == 1 || src.ranges.last?.size == run else {
                throw KernelSpaceError(
                    .interpreter,
                    "tensor_reduce into \(name(instruction.destination)) must be [P, 1] of [P, F > 0], or [P, F] "
                        + "of [P, F, n]")
            }
            let values = read(source, src.buffer)
            var results = [Float](repeating: 0, count: source.partitions * runs)
            for partition in 0..<source.partitions {
                for index in 0..<runs {
                    let first = partition * source.free + index * run
                    var total = values[first]
                    for element in 1..<run { total = op.apply(total, values[first + element]) }
                    results[partition * runs + index] = total
                }
            }
            write(results, dst, target)
        case .iota(_, let partition, let free, let offset):
            let base = offset.evaluate(environment)
            var values = [Float](repeating: 0, count: dst.partitions * dst.free)
            for row in 0..<dst.partitions {
                for element in 0..<dst.free {
                    values[row * dst.free + element] = Float(base + partition * row + free * element)
                }
            }
            write(values, dst, target)
        case .max8(_, let src):
            let source = try view(src, environment)
            guard dst.partitions == source.partitions, dst.free == 8, source.free >= 8 else {
                throw KernelSpaceError(
                    .interpreter, "max8 into \(name(instruction.destination)) must be [P, 8] from [P, >=8]")
            }
            let values = read(source, src.buffer)
            var results: [Float] = []
            for partition in 0..<source.partitions {
                let row = values[(partition * source.free)..<((partition + 1) * source.free)]
                results += row.sorted(by: >).prefix(8)
            }
            write(results, dst, target)
        case .findIndex8(_, let data, let wanted):
            let source = try view(data, environment)
            let targets = try view(wanted, environment)
            guard dst.partitions == source.partitions, dst.free == 8, targets.free == 8 else {
                throw KernelSpaceError(
                    .interpreter, "nc_find_index8 into \(name(instruction.destination)) must be [P, 8]")
            }
            let values = read(source, data.buffer)
            let keys = read(targets, wanted.buffer)
            var results: [Float] = []
            for partition in 0..<source.partitions {
                let row = Array(values[(partition * source.free)..<((partition + 1) * source.free)])
                for slot in 0..<8 {
                    let index = row.firstIndex(of: keys[partition * 8 + slot]) ?? -1
                    results.append(Float(index))
                }
            }
            write(results, dst, target)
        case .memset(_, let value, _):
            write([Float](repeating: value, count: dst.partitions * dst.free), dst, target)
        }
    }

    /// The values of a `[P, 1]` region, one per partition.
    private func column(_ access: Access, rows: Int, _ environment: [Int]) throws(KernelSpaceError) -> [Float] {
        let region = try view(access, environment)
        guard region.partitions == rows, region.free == 1 else {
            throw KernelSpaceError(
                .interpreter,
                "per-partition operand \(program.buffers[access.buffer].name) must be [\(rows), 1], "
                    + "got [\(region.partitions), \(region.free)]")
        }
        return read(region, access.buffer)
    }

    private mutating func multiply(
        dst: View, target: Int, stationary: Access, moving: Access, _ accumulation: Accumulation,
        _ environment: [Int]
    ) throws(KernelSpaceError) {
        let left = try view(stationary, environment)
        let right = try view(moving, environment)
        let (k, m, n) = (left.partitions, left.free, right.free)
        guard right.partitions == k, dst.partitions == m, dst.free == n else {
            throw KernelSpaceError(
                .interpreter,
                "matmul into \(program.buffers[target].name): [\(k), \(m)]^T x [\(right.partitions), \(n)] "
                    + "does not fit [\(dst.partitions), \(dst.free)]")
        }
        let a = read(left, stationary.buffer)
        let b = read(right, moving.buffer)
        var product = [Float](repeating: 0, count: m * n)
        product.withUnsafeMutableBufferPointer { out in
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    for inner in 0..<k {
                        for row in 0..<m {
                            let scale = a[inner * m + row]
                            let outRow = row * n
                            let bRow = inner * n
                            for column in 0..<n { out[outRow + column] += scale * b[bRow + column] }
                        }
                    }
                }
            }
        }
        let overwrite: Bool
        switch accumulation {
        case .overwrite: overwrite = true
        case .acrossLoops(let variables): overwrite = variables.allSatisfy { environment[$0] == 0 }
        }
        if !overwrite {
            let previous = read(dst, target)
            for index in product.indices { product[index] = previous[index] + product[index] }
        }
        write(product, dst, target)
    }
}
