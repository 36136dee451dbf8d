import KernelSpace

/// The engine timeline of a NeuronCore: every engine runs its instructions in program order; an
/// instruction starts when its engine is free and its inputs are ready; a buffer write waits for
/// the readers of the copy it overwrites, so buffers with several copies let loads run ahead of
/// compute; DMAs run on in-order queues that share the core's DMA bandwidth.
///
/// ```swift
/// let report = Timeline.simulate(program, on: .trn2)
/// print(report.latency)
/// ```
public enum Timeline {
    /// Simulates a program on a target.
    public static func simulate(_ program: KernelProgram, on target: Target) -> CostReport {
        var state = SimulationState(program: program, target: target)
        var environment = [Int](repeating: 0, count: program.loopVariables.count)
        let compiled = CompiledProgram(program: program, target: target)
        state.run(compiled.body, compiled, &environment)
        return state.report()
    }
}

/// An instruction with what the timeline needs precomputed.
struct CompiledOp {
    enum Lane: Equatable {
        case compute(Int)
        case dma(queue: Int)
    }

    let instruction: Instruction
    let lane: Lane
    /// On-chip regions read and written.
    let reads: [Access]
    let write: Access?
    /// Duration in ns when no access is clamped; nil when it depends on loop values.
    let staticDuration: Double?
    let clamped: Bool
}

indirect enum Node {
    case loop(variable: Int, trips: Int, body: [Node])
    case allocate(Int)
    case op(Int)
}

struct CompiledProgram {
    var ops: [CompiledOp] = []
    var body: [Node] = []
    let program: KernelProgram
    let target: Target

    init(program: KernelProgram, target: Target) {
        self.program = program
        self.target = target
        body = compile(program.body)
    }

    private mutating func compile(_ statements: [Stmt]) -> [Node] {
        statements.map { statement in
            switch statement {
            case .loop(let loop): return .loop(variable: loop.variable.id, trips: loop.trips, body: compile(loop.body))
            case .allocate(let buffer): return .allocate(buffer)
            case .op(let instruction):
                ops.append(compileOp(instruction))
                return .op(ops.count - 1)
            }
        }
    }

    private func onChip(_ access: Access) -> Access? {
        program.buffers[access.buffer].memory == .hbm ? nil : access
    }

    private func compileOp(_ instruction: Instruction) -> CompiledOp {
        let lane: CompiledOp.Lane
        switch instruction {
        case .dma(_, _, let queue), .dmaTranspose(_, _, let queue): lane = .dma(queue: queue)
        default: lane = .compute(Self.laneIndex(instruction.engine))
        }
        var reads: [Access] = []
        for source in instruction.sources {
            if let access = onChip(source), !reads.contains(access) { reads.append(access) }
        }
        let accesses = [instruction.destination] + instruction.sources
        let clamped = accesses.contains { $0.isClamped }
        let empty = [Int](repeating: 0, count: program.loopVariables.count)
        let isDMA: Bool
        if case .dma = lane { isDMA = true } else { isDMA = false }
        return CompiledOp(
            instruction: instruction, lane: lane, reads: reads, write: onChip(instruction.destination),
            staticDuration: clamped || isDMA ? nil : InstructionCost.duration(instruction, program, target, empty),
            clamped: clamped)
    }

    static func laneIndex(_ engine: Engine) -> Int {
        switch engine {
        case .tensor: 0
        case .vector: 1
        case .scalar: 2
        case .gpsimd: 3
        case .dma: 4
        }
    }
}
