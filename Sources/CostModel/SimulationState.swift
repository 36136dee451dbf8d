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
    /// When recording: the event of each cell's last write and read (indices into `events`), and
    /// of each engine's (0-3) and DMA queue's (4-19) last instruction.
    private var writer: [Int] = []
    private var reader: [Int] = []
    private var laneEvent: [Int] = []

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
        if recording {
            writer = [Int](repeating: -1, count: total)
            reader = writer
            laneEvent = [Int](repeating: -1, count: 4 + queueFree.count)
        }
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
        let data = events == nil ? -1 : lastEvent(before: op, ready: ready, environment)
        let (start, finish, lane, laneBound): (Double, Double, Int, Bool)
        switch op.kind {
        case .dma, .dmaTranspose: (start, finish, lane, laneBound) = transfer(op, ready: ready, environment)
        default: (start, finish, lane, laneBound) = compute(index, op, ready: ready, environment)
        }
        for access in op.reads where access >= 0 {
            for cell in cells(access, environment) { readEnd[cell] = max(readEnd[cell], finish) }
        }
        for access in op.writes where access >= 0 {
            for cell in cells(access, environment) { writeEnd[cell] = max(writeEnd[cell], finish) }
        }
        end = max(end, finish)
        if events != nil {
            let waited: TraceEvent.Wait =
                laneBound && laneEvent[lane] >= 0 ? .lane(laneEvent[lane]) : data >= 0 ? .data(data) : .nothing
            record(op, start: start, finish: finish, lane: lane, waited: waited, environment)
        }
    }

    /// When recording: the event whose write of what `op` reads, or whose read of what it
    /// overwrites, ends at `ready` (-1 if none: `ready` is 0).
    private func lastEvent(before op: FlatOp, ready: Double, _ environment: UnsafeMutableBufferPointer<Int>) -> Int {
        guard ready > 0 else { return -1 }
        for access in op.reads where access >= 0 {
            for cell in cells(access, environment) where writeEnd[cell] == ready { return writer[cell] }
        }
        for access in op.writes where access >= 0 {
            for cell in cells(access, environment) where readEnd[cell] == ready { return reader[cell] }
        }
        return -1
    }

    /// Appends an instruction's event and makes it the last write or read of the cells where it
    /// ends last.
    private mutating func record(
        _ op: FlatOp, start: Double, finish: Double, lane: Int, waited: TraceEvent.Wait,
        _ environment: UnsafeMutableBufferPointer<Int>
    ) {
        let index = events?.count ?? 0
        let isDMA = op.kind == .dma || op.kind == .dmaTranspose
        let written = op.destination >= 0 ? flat.buffers[flat.accessBuffer[op.destination]].name : ""
        events?.append(
            TraceEvent(
                lane: isDMA ? .dmaQueue(op.queue) : .engine(op.engine), kind: op.kind.name, start: start, end: finish,
                writes: written, waited: waited))
        for access in op.reads where access >= 0 {
            for cell in cells(access, environment) where readEnd[cell] == finish { reader[cell] = index }
        }
        for access in op.writes where access >= 0 {
            for cell in cells(access, environment) where writeEnd[cell] == finish { writer[cell] = index }
        }
        laneEvent[lane] = index
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

    /// Runs a compute instruction on its engine; returns when it starts and ends, the engine's
    /// lane, and whether the engine (rather than the data) held it back.
    private mutating func compute(
        _ index: Int, _ op: FlatOp, ready: Double, _ environment: UnsafeMutableBufferPointer<Int>
    ) -> (Double, Double, Int, Bool) {
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
        return (start, finish, lane, start > ready)
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

    /// Runs a DMA on one of its stream's hardware queues; returns when it starts and ends, the
    /// queue's lane (4 and up), and whether the queue (rather than the data) held it back.
    private mutating func transfer(
        _ op: FlatOp, ready: Double, _ environment: UnsafeMutableBufferPointer<Int>
    ) -> (Double, Double, Int, Bool) {
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
        let queueBound = max(queueFree[queue], descriptorsDone) > ready + target.dmaFixedLatency
        queueFree[queue] = finish
        busy[4] += occupancy * share
        dmaBytes += bytes
        return (start, finish, 4 + queue, queueBound)
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
        if events != nil { recordBarrier(on: buffer, leaving: time) }
        laneFree[3] = max(laneFree[3], time)
        for cell in allCells(of: buffer) {
            writeEnd[cell] = max(writeEnd[cell], time)
            readEnd[cell] = max(readEnd[cell], time)
        }
        end = max(end, time)
    }

    /// Appends a barrier's event, from this core's arrival to `time`, and makes it the last write
    /// and read of the buffer and the last instruction on GpSimd.
    private mutating func recordBarrier(on buffer: Int, leaving time: Double) {
        var arrival = laneFree[3]
        var waited: TraceEvent.Wait = laneEvent[3] >= 0 ? .lane(laneEvent[3]) : .nothing
        for cell in allCells(of: buffer) where writeEnd[cell] > arrival {
            arrival = writeEnd[cell]
            waited = .data(writer[cell])
        }
        let index = events?.count ?? 0
        events?.append(
            TraceEvent(
                lane: .engine(.gpsimd), kind: "barrier", start: arrival, end: time, writes: flat.buffers[buffer].name,
                waited: waited))
        for cell in allCells(of: buffer) {
            writer[cell] = index
            reader[cell] = index
        }
        laneEvent[3] = index
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
