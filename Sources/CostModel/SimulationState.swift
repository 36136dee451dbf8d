import KernelSpace

/// The mutable state of one timeline simulation over a ``FlatProgram``.
struct SimulationState {
    private let flat: FlatProgram
    private let target: Target

    private var laneFree = [Double](repeating: 0, count: 4)
    private var busy = [Double](repeating: 0, count: 5)
    private var queueFree = [Double](repeating: 0, count: 16)
    private var descriptorFree = [Double](repeating: 0, count: 16)
    private var bandwidth = BandwidthCalendar()
    /// Next hardware queue of each DMA stream (the IR's queue number).
    private var streamNext = [Int](repeating: 0, count: 16)
    private var staticDuration: [Double]
    /// Current copy of each buffer.
    private var slot: [Int]
    /// How each buffer is cut into dependency cells.
    private let grids: [CellGrid]
    /// Where each buffer's (copy, region) cells start in `writeEnd` and `readEnd`.
    private let cellOffset: [Int]
    /// Completion of the last write and read of each cell.
    private var writeEnd: [Double]
    private var readEnd: [Double]
    /// When the last instruction so far finishes.
    private(set) var end: Double = 0
    /// Cores moving data at once through the HBM stack they share.
    private let activeCores: Int
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
    /// Every executed instruction, when recording.
    private(set) var events: [TraceEvent]?

    init(_ flat: FlatProgram, target: Target, recording: Bool = false) {
        self.flat = flat
        self.target = target
        activeCores = flat.cores
        events = recording ? [] : nil
        staticDuration = [Double](repeating: .nan, count: flat.ops.count)
        slot = [Int](repeating: 0, count: flat.buffers.count)
        grids = flat.buffers.map(CellGrid.init)
        var offsets: [Int] = []
        var total = 0
        for (index, buffer) in flat.buffers.enumerated() {
            offsets.append(total)
            total += max(1, buffer.copies) * grids[index].count
        }
        cellOffset = offsets
        writeEnd = [Double](repeating: 0, count: total)
        readEnd = writeEnd
    }

    mutating func run(_ nodes: Range<Int>, _ environment: UnsafeMutableBufferPointer<Int>) {
        for index in nodes {
            let node = flat.nodes[index]
            switch node.kind {
            case .loop:
                let trips =
                    node.limit < 0 ? node.trips : max(0, min(node.trips, flat.evaluate(node.limit, environment)))
                for trip in 0..<trips {
                    environment[node.value] = trip
                    run(node.body, environment)
                }
            case .allocate:
                slot[node.value] = (slot[node.value] + 1) % max(1, flat.buffers[node.value].copies)
            case .op:
                execute(node.value, environment)
            case .barrier:
                preconditionFailure("barriers separate phases; Timeline runs each phase on every core")
            }
        }
    }

    /// The cells of the current copy that an access touches; all of them for an access placed at
    /// run time.
    @inline(__always)
    private func cells(_ access: Int, _ environment: UnsafeMutableBufferPointer<Int>) -> CellSpan {
        let buffer = flat.accessBuffer[access]
        let grid = grids[buffer]
        let base = cellOffset[buffer] + slot[buffer] * grid.count
        let dynamic = flat.accessDynamic[access]
        func span(_ dimension: Int?, _ shift: Int, _ count: Int) -> Range<Int> {
            guard let dimension, !dynamic else { return 0..<count }
            let range = flat.accessRangeFirst[access] + dimension
            let start = flat.evaluate(flat.rangeStart[range], environment)
            let last = start + (max(1, flat.extent(range, environment)) - 1) * flat.rangeStride[range]
            let (low, high) = (min(start, last) >> shift, max(start, last) >> shift)
            return min(max(low, 0), count - 1)..<(min(max(high, 0), count - 1) + 1)
        }
        return CellSpan(
            base: base, columnsPerRow: grid.columns, rows: span(grid.rowDimension, grid.rowShift, grid.rows),
            columns: span(grid.columnDimension, grid.columnShift, grid.columns))
    }

    private mutating func execute(_ index: Int, _ environment: UnsafeMutableBufferPointer<Int>) {
        let op = flat.ops[index]
        if op.clamped {
            for access in op.accesses where access >= 0 && flat.isEmpty(access, environment) { return }
            for access in op.reads where access >= 0 && flat.isEmpty(access, environment) { return }
        }
        instructions += 1
        // Reads wait for the writes of their regions; a write waits for the readers of the copy it
        // overwrites. Writes to one copy need no order among themselves (they fill disjoint tiles).
        var ready = 0.0
        for access in op.reads where access >= 0 {
            for cell in cells(access, environment) { ready = max(ready, writeEnd[cell]) }
        }
        for access in op.writes where access >= 0 {
            for cell in cells(access, environment) { ready = max(ready, readEnd[cell]) }
        }
        let (start, finish): (Double, Double)
        switch op.kind {
        case .dma, .dmaTranspose: (start, finish) = transfer(op, ready: ready, environment)
        default: (start, finish) = compute(index, op, ready: ready, environment)
        }
        if events != nil {
            let lane: TraceEvent.Lane =
                op.kind == .dma || op.kind == .dmaTranspose ? .dmaQueue(op.queue) : .engine(op.engine)
            events?.append(TraceEvent(lane: lane, kind: op.kind.name, start: start, end: finish))
        }
        for access in op.reads where access >= 0 {
            for cell in cells(access, environment) { readEnd[cell] = max(readEnd[cell], finish) }
        }
        for access in op.writes where access >= 0 {
            for cell in cells(access, environment) { writeEnd[cell] = max(writeEnd[cell], finish) }
        }
        end = max(end, finish)
    }

    private func clock(_ engine: Engine) -> Double {
        switch engine {
        case .tensor: target.tensorClock
        case .vector: target.vectorClock
        case .scalar: target.scalarClock
        case .gpsimd, .dma: target.gpsimdClock
        }
    }

    /// Duration from the documented cycle rules (neuroncore.md, "Instruction costs").
    private func duration(_ op: FlatOp, _ environment: UnsafeMutableBufferPointer<Int>) -> Double {
        switch op.kind {
        case .matmul:
            let columns = Double(flat.shape(op.operand0, environment).free)
            let free = Double(flat.shape(op.operand1, environment).free)
            return max(min(64, columns), free) * op.factor / target.tensorClock
        case .transpose:
            let (partitions, free) = flat.shape(op.operand0, environment)
            return Double(max(partitions, min(64, free))) * op.factor / target.tensorClock
        case .elementwise:
            let free = Double(flat.shape(op.operand0, environment).free)
            let cycles = max(target.minimumCycles, free * op.factor) + op.extraCycles + target.accessStartCycles
            return cycles / clock(op.engine)
        case .dma, .dmaTranspose:
            preconditionFailure("DMA time depends on queue state")
        }
    }

    private mutating func compute(
        _ index: Int, _ op: FlatOp, ready: Double, _ environment: UnsafeMutableBufferPointer<Int>
    ) -> (Double, Double) {
        var duration: Double
        if op.clamped {
            duration = self.duration(op, environment)
        } else if staticDuration[index].isNaN {
            duration = self.duration(op, environment)
            staticDuration[index] = duration
        } else {
            duration = staticDuration[index]
        }
        let lane = op.engine == .tensor ? 0 : op.engine == .vector ? 1 : op.engine == .scalar ? 2 : 3
        var start = max(ready, laneFree[lane])
        // A Vector/Scalar/GpSimd instruction that waits on the instruction just before it on the
        // same engine pays the dependent-instruction overhead.
        if lane > 0 && ready > 0 && ready == laneFree[lane] {
            duration += target.dependentInstructionCycles / clock(op.engine)
        }
        let sharesSBUF = target.serialisesEngineAccess && (op.engine == .vector || op.engine == .gpsimd)
        let sharesPSUM =
            target.serialisesEngineAccess && op.touchesPSUM && (op.engine == .vector || op.engine == .scalar)
        if sharesSBUF { start = max(start, sbufPortFree) }
        if sharesPSUM { start = max(start, psumPortFree) }
        if op.kind == .matmul {
            let (contraction, columns) = flat.shape(op.operand0, environment)
            macs += contraction * columns * flat.shape(op.operand1, environment).free
            duration += stationaryLoad(op, columns: columns, environment)
            lastMatmulCycles = duration * target.tensorClock
        }
        if op.engine == .tensor && target.tensorThrottleWindow > 0 {
            let window = target.tensorThrottleWindow
            if start - tensorLastEnd > window / 2 { tensorPeriodStart = start }
            let ramp = (start - tensorPeriodStart) / window
            if ramp < 1 { duration *= 2 / (1 + ramp) }
        }
        let finish = start + duration
        laneFree[lane] = finish
        busy[lane] += duration
        if op.engine == .tensor { tensorLastEnd = finish }
        if sharesSBUF { sbufPortFree = finish }
        if sharesPSUM { psumPortFree = finish }
        return (start, finish)
    }

    /// Extra ns for loading a new stationary operand: LoadStationary runs in the background of the
    /// previous matmul and costs only what that matmul does not hide.
    private mutating func stationaryLoad(
        _ op: FlatOp, columns: Int, _ environment: UnsafeMutableBufferPointer<Int>
    ) -> Double {
        let access = op.operand0
        let buffer = flat.accessBuffer[access]
        var identity = buffer &* 1_000_003 &+ slot[buffer]
        let first = flat.accessRangeFirst[access]
        for range in first..<(first + flat.accessRangeCount[access]) {
            identity = identity &* 31 &+ flat.evaluate(flat.rangeStart[range], environment)
        }
        guard identity != lastStationary else { return 0 }
        lastStationary = identity
        let loadCycles = Double(max(columns, 64)) * op.factor / target.loadStationarySpeedup
        return max(0, loadCycles - lastMatmulCycles) / target.tensorClock
    }

    private mutating func transfer(
        _ op: FlatOp, ready: Double, _ environment: UnsafeMutableBufferPointer<Int>
    ) -> (Double, Double) {
        let (shape, free) = flat.shape(op.operand0, environment)
        let partitions = min(shape, op.timedRows)
        let bytes = partitions * free * op.elementSize
        let perEngine = target.dmaPartitionsPerEngine
        let engines = min(target.dmaEngines, (partitions + perEngine - 1) / perEngine)
        // Two cores of a logical core share one HBM stack: each gets at most half of it.
        let stackShare = target.sharedHBMBytesPerNs / Double(activeCores * target.dmaEngines)
        let perEngineRate =
            activeCores > 1 ? min(target.dmaBytesPerNsPerEngine, stackShare) : target.dmaBytesPerNsPerEngine
        let rate = Double(engines) * perEngineRate
        var efficiency = target.dmaEfficiency(rowBytes: Double(free * op.elementSize))
        if op.kind == .dmaTranspose { efficiency *= target.dmaTransposeEfficiency ?? 1 }
        let dataTime = Double(bytes) / rate
        let aloneTime = Double(bytes) / (rate * efficiency)

        // The compiler spreads a stream's independent DMAs over several hardware queues.
        let perStream = target.dmaQueuesPerStream
        let queue = (op.queue * perStream + streamNext[op.queue]) % queueFree.count
        streamNext[op.queue] = (streamNext[op.queue] + 1) % perStream
        let descriptorsDone = descriptorFree[queue] + target.dmaDescriptorTime
        descriptorFree[queue] = descriptorsDone
        let earliest = max(ready + target.dmaFixedLatency, queueFree[queue], descriptorsDone)
        var inFlight = 1.0
        for other in queueFree.indices where other != queue && queueFree[other] > earliest { inFlight += 1 }
        let occupancy = max(dataTime, aloneTime / min(target.dmaQueueOverlap, inFlight))
        let share = Double(engines) / Double(target.dmaEngines)
        // The transfer holds its share of the bandwidth for `occupancy` unless earlier bookings
        // interrupt it, which delays its end by as long as they do.
        let (start, booked) = bandwidth.book(earliest: earliest, duration: occupancy * share)
        let finish = max(start + occupancy, booked + (1 - share) * occupancy)
        queueFree[queue] = finish
        busy[4] += occupancy * share
        dmaBytes += bytes
        return (start, finish)
    }

    /// Every copy's and region's cell of `buffer`.
    private func allCells(of buffer: Int) -> Range<Int> {
        cellOffset[buffer]..<(cellOffset[buffer] + max(1, flat.buffers[buffer].copies) * grids[buffer].count)
    }

    /// When this core's GpSimd reaches a barrier on `buffer`: its earlier GpSimd instructions and
    /// its writes to the buffer are done.
    func barrierArrival(on buffer: Int) -> Double {
        allCells(of: buffer).reduce(laneFree[3]) { max($0, writeEnd[$1]) }
    }

    /// Leaves a barrier on `buffer` at `time`: GpSimd ran it until then, and later reads and writes
    /// of the buffer wait for it.
    mutating func leaveBarrier(on buffer: Int, at time: Double) {
        laneFree[3] = max(laneFree[3], time)
        for cell in allCells(of: buffer) {
            writeEnd[cell] = max(writeEnd[cell], time)
            readEnd[cell] = max(readEnd[cell], time)
        }
        end = max(end, time)
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
