import KernelSpace

/// The mutable state of one timeline simulation.
struct SimulationState {
    let program: KernelProgram
    let target: Target

    private var laneFree = [Double](repeating: 0, count: 4)
    private var busy = [Double](repeating: 0, count: 5)
    private var queueFree = [Double](repeating: 0, count: 16)
    private var descriptorFree = [Double](repeating: 0, count: 16)
    private var bandwidthFree: Double = 0
    private var slot: [Int]
    /// Dependency regions per buffer: the second dimension of a buffer of rank 3 or more (a block
    /// of tiles indexed one at a time), else the whole buffer.
    private let regions: [Int]
    /// Completion of the last write and read of each (copy, region), per buffer.
    private var writeEnd: [[Double]]
    private var readEnd: [[Double]]
    private var end: Double = 0
    private var dmaBytes = 0
    private var macs = 0
    private var instructions = 0
    // TensorE throttle and stationary loads.
    private var tensorLastEnd = -Double.infinity
    private var tensorPeriodStart: Double = 0
    private var lastStationary = -1
    private var lastMatmulCycles: Double = 0
    // NeuronCore-v2 shared access ports.
    private var sbufPortFree: Double = 0
    private var psumPortFree: Double = 0

    init(program: KernelProgram, target: Target) {
        self.program = program
        self.target = target
        slot = [Int](repeating: 0, count: program.buffers.count)
        let regions = program.buffers.map { $0.shape.count >= 3 ? $0.shape[1] : 1 }
        self.regions = regions
        writeEnd = program.buffers.indices.map {
            [Double](repeating: 0, count: max(1, program.buffers[$0].copies) * regions[$0])
        }
        readEnd = writeEnd
    }

    mutating func run(_ nodes: [Node], _ compiled: CompiledProgram, _ environment: inout [Int]) {
        for node in nodes {
            switch node {
            case .loop(let variable, let trips, let body):
                for trip in 0..<trips {
                    environment[variable] = trip
                    run(body, compiled, &environment)
                }
            case .allocate(let buffer):
                slot[buffer] = (slot[buffer] + 1) % max(1, program.buffers[buffer].copies)
            case .op(let index):
                execute(compiled.ops[index], environment)
            }
        }
    }

    private func isEmpty(_ instruction: Instruction, _ environment: [Int]) -> Bool {
        for access in [instruction.destination] + instruction.sources {
            for range in access.ranges where range.extent(environment) == 0 { return true }
        }
        return false
    }

    private mutating func execute(_ op: CompiledOp, _ environment: [Int]) {
        if op.clamped && isEmpty(op.instruction, environment) { return }
        instructions += 1
        // Reads wait for the writes of their regions; a write waits for the readers of the copy it
        // overwrites. Writes to one copy need no order among themselves (they fill disjoint tiles).
        var ready: Double = 0
        for access in op.reads {
            let (buffer, span) = cells(access, environment)
            for cell in span { ready = max(ready, writeEnd[buffer][cell]) }
        }
        if let access = op.write {
            let (buffer, span) = cells(access, environment)
            for cell in span { ready = max(ready, readEnd[buffer][cell]) }
        }
        let finish: Double
        switch op.lane {
        case .compute(let lane):
            finish = compute(op, lane: lane, ready: ready, environment)
        case .dma(let queue):
            finish = transfer(op, queue: queue, ready: ready, environment)
        }
        for access in op.reads {
            let (buffer, span) = cells(access, environment)
            for cell in span { readEnd[buffer][cell] = max(readEnd[buffer][cell], finish) }
        }
        if let access = op.write {
            let (buffer, span) = cells(access, environment)
            for cell in span { writeEnd[buffer][cell] = max(writeEnd[buffer][cell], finish) }
        }
        end = max(end, finish)
    }

    /// The (copy, region) cells of the current copy that an access touches.
    @inline(__always)
    private func cells(_ access: Access, _ environment: [Int]) -> (Int, Range<Int>) {
        let buffer = access.buffer
        let count = regions[buffer]
        let base = slot[buffer] * count
        guard count > 1 else { return (buffer, base..<(base + 1)) }
        let range = access.ranges[1]
        if range.size == 1 {
            let index = min(max(range.start.evaluate(environment), 0), count - 1)
            return (buffer, (base + index)..<(base + index + 1))
        }
        return (buffer, base..<(base + count))
    }

    private mutating func compute(_ op: CompiledOp, lane: Int, ready: Double, _ environment: [Int]) -> Double {
        var duration = op.staticDuration ?? InstructionCost.duration(op.instruction, program, target, environment)
        var start = max(ready, laneFree[lane])
        let engine = op.instruction.engine
        if target.serialisesEngineAccess {
            let accesses = [op.instruction.destination] + op.instruction.sources
            let touchesPSUM = accesses.contains { program.buffers[$0.buffer].memory == .psum }
            if engine == .vector || engine == .gpsimd { start = max(start, sbufPortFree) }
            if touchesPSUM && (engine == .vector || engine == .scalar) { start = max(start, psumPortFree) }
        }
        if case .matmul(_, let stationary, let moving, _) = op.instruction {
            let (contraction, columns) = stationary.shape2D(environment)
            macs += contraction * columns * moving.shape2D(environment).free
            duration += stationaryLoad(stationary, columns: columns, environment)
            lastMatmulCycles = duration * target.tensorClock
        }
        if engine == .tensor && target.tensorThrottleWindow > 0 {
            let window = target.tensorThrottleWindow
            if start - tensorLastEnd > window / 2 { tensorPeriodStart = start }
            let ramp = (start - tensorPeriodStart) / window
            if ramp < 1 { duration *= 2 / (1 + ramp) }
        }
        let finish = start + duration
        laneFree[lane] = finish
        busy[lane] += duration
        if engine == .tensor { tensorLastEnd = finish }
        if target.serialisesEngineAccess {
            if engine == .vector || engine == .gpsimd { sbufPortFree = finish }
            let accesses = [op.instruction.destination] + op.instruction.sources
            if (engine == .vector || engine == .scalar) && accesses.contains(where: { program.buffers[$0.buffer].memory == .psum }) {
                psumPortFree = finish
            }
        }
        return finish
    }

    /// Extra ns for loading a new stationary operand: LoadStationary runs in the background of the
    /// previous matmul and costs only what that matmul does not hide.
    private mutating func stationaryLoad(_ stationary: Access, columns: Int, _ environment: [Int]) -> Double {
        var identity = stationary.buffer &* 1_000_003 &+ slot[stationary.buffer]
        for range in stationary.ranges { identity = identity &* 31 &+ range.start.evaluate(environment) }
        guard identity != lastStationary else { return 0 }
        lastStationary = identity
        let factor = program.buffers[stationary.buffer].dtype == .fp32 ? target.fp32MatmulFactor : 1
        let loadCycles = Double(max(columns, 64)) * factor / target.loadStationarySpeedup
        return max(0, loadCycles - lastMatmulCycles) / target.tensorClock
    }

    private mutating func transfer(_ op: CompiledOp, queue: Int, ready: Double, _ environment: [Int]) -> Double {
        let (dst, src, transpose): (Access, Access, Bool)
        switch op.instruction {
        case .dma(let d, let s, _): (dst, src, transpose) = (d, s, false)
        case .dmaTranspose(let d, let s, _): (dst, src, transpose) = (d, s, true)
        default: preconditionFailure("not a DMA")
        }
        let onChip = program.buffers[dst.buffer].memory == .hbm ? src : dst
        let (partitions, free) = onChip.shape2D(environment)
        let elementSize = program.buffers[src.buffer].dtype.size
        let bytes = partitions * free * elementSize
        let engines = min(target.dmaEngines, (partitions + target.dmaPartitionsPerEngine - 1) / target.dmaPartitionsPerEngine)
        let rate = Double(engines) * target.dmaBytesPerNsPerEngine
        var efficiency = target.dmaEfficiency(rowBytes: Double(free * elementSize))
        if transpose { efficiency *= target.dmaTransposeEfficiency ?? 1 }
        let dataTime = Double(bytes) / rate
        let aloneTime = Double(bytes) / (rate * efficiency)

        let descriptorsDone = descriptorFree[queue] + target.dmaDescriptorTime
        descriptorFree[queue] = descriptorsDone
        let earliest = max(ready + target.dmaFixedLatency, queueFree[queue], descriptorsDone)
        var inFlight = 1.0
        for other in queueFree.indices where other != queue && queueFree[other] > earliest { inFlight += 1 }
        let occupancy = max(dataTime, aloneTime / min(target.dmaQueueOverlap, inFlight))
        let start = max(earliest, bandwidthFree)
        let share = Double(engines) / Double(target.dmaEngines)
        bandwidthFree = start + occupancy * share
        let finish = start + occupancy
        queueFree[queue] = finish
        busy[4] += occupancy * share
        dmaBytes += bytes
        return finish
    }

    func report() -> CostReport {
        let engines: [Engine] = [.tensor, .vector, .scalar, .gpsimd, .dma]
        var map: [Engine: Double] = [:]
        for (index, engine) in engines.enumerated() { map[engine] = busy[index] }
        return CostReport(
            latency: end + target.launchOverhead, deviceTime: end, busy: map, dmaBytes: dmaBytes, macs: macs,
            instructions: instructions)
    }
}
