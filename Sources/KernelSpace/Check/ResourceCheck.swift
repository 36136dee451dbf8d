/// The on-chip limits a program must respect on one target.
public struct ResourceLimits: Hashable, Sendable {
    /// Target name for messages (`trn2`).
    public var target: String
    /// Partitions of SBUF and PSUM (128).
    public var partitions: Int
    /// SBUF bytes per partition.
    public var sbufBytesPerPartition: Int
    /// PSUM banks per partition.
    public var psumBanks: Int
    /// Bytes of one PSUM bank per partition.
    public var psumBankBytes: Int
    /// Largest moving free size of one `nc_matmul`.
    public var matmulMaxMoving: Int
    /// Whether `dma_transpose` exists.
    public var hasDMATranspose: Bool
    /// Physical cores one program may run on: 2 where a logical core pairs two (LNC 2, with
    /// `core_barrier`: NeuronCore-v3 on), else 1.
    public var coresPerProgram: Int

    /// Creates a value with every field given.
    public init(
        target: String, partitions: Int, sbufBytesPerPartition: Int, psumBanks: Int, psumBankBytes: Int,
        matmulMaxMoving: Int, hasDMATranspose: Bool, coresPerProgram: Int
    ) {
        self.coresPerProgram = coresPerProgram
        self.target = target
        self.partitions = partitions
        self.sbufBytesPerPartition = sbufBytesPerPartition
        self.psumBanks = psumBanks
        self.psumBankBytes = psumBankBytes
        self.matmulMaxMoving = matmulMaxMoving
        self.hasDMATranspose = hasDMATranspose
    }
}

/// What a program needs of SBUF and PSUM.
public struct ResourceUsage: Hashable, Sendable {
    /// SBUF bytes per partition, every rotating copy included.
    public var sbufBytesPerPartition: Int
    /// PSUM banks, every rotating copy included.
    public var psumBanks: Int
}

/// Rejects programs that break hardware limits, with the reason and the numbers.
public enum ResourceCheck {
    /// SBUF and PSUM footprint of a program. The stages of a chained kernel count one at a time
    /// (the largest): each stage's on-chip work waits for the result of the one before, so their
    /// buffers are not needed at once.
    public static func usage(of program: KernelProgram, limits: ResourceLimits) -> ResourceUsage {
        var sbuf: [Int?: Int] = [:]
        var banks: [Int?: Int] = [:]
        for buffer in program.buffers {
            switch buffer.memory {
            case .sbuf: sbuf[buffer.stage, default: 0] += buffer.bytesPerPartition * buffer.copies
            case .psum:
                let perCopy = (buffer.bytesPerPartition + limits.psumBankBytes - 1) / limits.psumBankBytes
                banks[buffer.stage, default: 0] += perCopy * buffer.copies
            case .hbm: break
            }
        }
        func total(_ usage: [Int?: Int]) -> Int {
            (usage[nil] ?? 0) + (usage.filter { $0.key != nil }.values.max() ?? 0)
        }
        return ResourceUsage(sbufBytesPerPartition: total(sbuf), psumBanks: total(banks))
    }

    /// Most instructions one program may execute. Beyond it the performance model would take
    /// seconds and gigabytes per variant and the kernel would run for hundreds of milliseconds:
    /// such a problem should be split by the caller, not tuned whole.
    public static let maximumInstructions = 4_000_000

    /// The first limit the program breaks, as a sentence with numbers, or nil if it fits.
    public static func violation(of program: KernelProgram, limits: ResourceLimits) -> String? {
        if program.cores > limits.coresPerProgram {
            return "runs on \(program.cores) cores; a logical core of \(limits.target) has \(limits.coresPerProgram)"
        }
        if let misplaced = misplacedBarrier(program) { return misplaced }
        let executed = program.executedInstructions
        if executed > maximumInstructions {
            return "executes \(executed == Int.max ? "more than 2^63" : grouped(executed)) instructions, over the "
                + "limit of \(grouped(maximumInstructions)) per kernel (split the problem)"
        }
        let usage = usage(of: program, limits: limits)
        if usage.sbufBytesPerPartition > limits.sbufBytesPerPartition {
            return "needs \(grouped(usage.sbufBytesPerPartition)) B of SBUF per partition; "
                + "\(limits.target) has \(grouped(limits.sbufBytesPerPartition))"
        }
        if usage.psumBanks > limits.psumBanks {
            return "needs \(usage.psumBanks) PSUM banks; \(limits.target) has \(limits.psumBanks)"
        }
        for buffer in program.buffers where buffer.memory != .hbm {
            if buffer.shape[0] > limits.partitions {
                return
                    "buffer \(buffer.name) spans \(buffer.shape[0]) partitions; \(limits.target) has \(limits.partitions)"
            }
        }
        var problem: String?
        program.forEachInstruction { instruction, _ in
            guard problem == nil else { return }
            problem = instructionViolation(instruction, program: program, limits: limits)
        }
        return problem
    }

    private static func instructionViolation(
        _ instruction: Instruction, program: KernelProgram, limits: ResourceLimits
    ) -> String? {
        // GpSimd has no port to PSUM (AWS's NKI docs: Scalar or Vector must take a PSUM tile).
        if instruction.engine == .gpsimd,
            let touched = (instruction.destinations + instruction.sources).first(where: {
                program.buffers[$0.buffer].memory == .psum
            })
        {
            return "GpSimd cannot access PSUM (\(program.buffers[touched.buffer].name))"
        }
        switch instruction {
        case .matmul(let dst, let stationary, let moving, _):
            let outputBytes = staticFree(dst) * DType.fp32.size
            if outputBytes > limits.psumBankBytes {
                return "matmul output needs \(outputBytes) B per partition; a PSUM bank holds \(limits.psumBankBytes)"
            }
            let contraction = stationary.ranges[0].size
            let columns = staticFree(stationary)
            let movingFree = staticFree(moving)
            if contraction > 128 { return "matmul contracts over \(contraction) partitions; the limit is 128" }
            if columns > 128 { return "matmul stationary free size \(columns) exceeds 128" }
            if movingFree > limits.matmulMaxMoving {
                return "matmul moving free size \(movingFree) exceeds \(limits.matmulMaxMoving) on \(limits.target)"
            }
        case .transpose(_, let src):
            if src.ranges[0].size > 128 || staticFree(src) > 128 {
                return "TensorE transpose of [\(src.ranges[0].size), \(staticFree(src))] exceeds [128, 128]"
            }
        case .dmaTranspose:
            if !limits.hasDMATranspose { return "DMA transpose is not available on \(limits.target)" }
        default:
            break
        }
        return nil
    }

    private static func misplacedBarrier(_ program: KernelProgram) -> String? {
        for statement in program.body {
            guard case .barrier(let id) = statement else { continue }
            if program.cores < 2 { return "has a core barrier but runs on one core" }
            if program.buffers[id].memory != .hbm {
                return "synchronises its cores on \(program.buffers[id].name), which is not in HBM"
            }
        }
        func containsBarrier(_ statements: [Stmt]) -> Bool {
            statements.contains { statement in
                switch statement {
                case .barrier: true
                case .loop(let loop): containsBarrier(loop.body)
                case .allocate, .op: false
                }
            }
        }
        let inLoops = program.body.contains { statement in
            if case .loop(let loop) = statement { return containsBarrier(loop.body) }
            return false
        }
        return inLoops ? "has a core barrier inside a loop; barriers belong at the top level" : nil
    }

    private static func staticFree(_ access: Access) -> Int {
        access.ranges.dropFirst().reduce(1) { $0 * $1.size }
    }

    /// `230400` as `230,400`.
    public static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (offset, character) in digits.enumerated() {
            if offset > 0 && (digits.count - offset) % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return value < 0 ? "-" + result : result
    }
}
