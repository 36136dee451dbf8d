/// Where a buffer lives.
public enum Memory: String, Sendable, Hashable {
    case hbm
    case sbuf
    case psum
}

/// What an HBM tensor is to the kernel's caller.
public enum TensorRole: Sendable, Hashable {
    /// The n-th argument of the kernel.
    case input(Int)
    /// Returned by the kernel.
    case output
    /// Scratch space: on chip, or an HBM tensor the cores exchange data through.
    case scratch
    /// An HBM tensor one stage of a chained kernel writes and a later stage reads
    /// (``ProgramChain``); the performance model orders the reads after the writes.
    case intermediate
}

/// A tensor in HBM or a buffer in SBUF/PSUM. On-chip shapes put the partition dimension first.
public struct BufferDecl: Hashable, Sendable {
    /// Index in the program's buffer list; accesses refer to buffers by it.
    public var id: Int
    /// Name in the emitted source.
    public var name: String
    /// Where it lives.
    public var memory: Memory
    /// The shape, outermost dimension first.
    public var shape: [Int]
    /// The element type.
    public var dtype: DType
    /// Physical copies the buffer rotates through each time its ``Stmt/allocate(_:)`` runs.
    public var copies: Int
    /// What the tensor is to the caller.
    public var role: TensorRole
    /// For an on-chip buffer of a chained kernel, the stage that uses it (``ProgramChain``).
    public var stage: Int? = nil

    /// Elements per partition (product of the free dimensions); for HBM, all elements.
    public var freeElements: Int {
        memory == .hbm ? shape.reduce(1, *) : shape.dropFirst().reduce(1, *)
    }

    /// Bytes per partition of one copy.
    public var bytesPerPartition: Int { freeElements * dtype.size }

    /// Elements between neighbours along each dimension, row-major (the last dimension's is 1).
    public var elementStrides: [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        for index in stride(from: shape.count - 2, through: 0, by: -1) {
            strides[index] = strides[index + 1] * shape[index + 1]
        }
        return strides
    }
}

/// How the compiler may schedule a loop (NKI's `affine_range`, `sequential_range`, `static_range`).
public enum LoopKind: String, Sendable, Hashable {
    case affine
    case sequential
    case `static`
}

/// A counted loop over a loop variable: `trips` iterations, or fewer where `limit` (an expression
/// of outer loop variables, such as a causal triangle's row) or a count read on the device
/// (``RuntimeCount``) is smaller.
public struct Loop: Hashable, Sendable {
    /// The loop variable.
    public var variable: LoopVar
    /// Iterations at most.
    public var trips: Int
    /// An upper bound from outer loop variables, or nil.
    public var limit: Affine?
    /// How the compiler may schedule it.
    public var kind: LoopKind
    /// A count read on the device, or nil; such a loop has no `limit` and its body does not mention
    /// its variable.
    public var runtime: RuntimeCount?
    /// The statements, in order.
    public var body: [Stmt]

    /// Creates a value with every field given.
    public init(
        _ variable: LoopVar, trips: Int, limit: Affine? = nil, kind: LoopKind = .affine, runtime: RuntimeCount? = nil,
        body: [Stmt]
    ) {
        precondition(
            runtime == nil || (limit == nil && !body.contains { $0.mentions(variable.id) }),
            "a loop counted on the device has no limit and its body does not use \(variable.name)")
        self.variable = variable
        self.trips = trips
        self.limit = limit
        self.kind = kind
        self.runtime = runtime
        self.body = body
    }

    /// Iterations for the given outer loop values (for a loop counted on the device, the most it
    /// can run).
    @inlinable
    public func count(_ environment: [Int]) -> Int {
        guard let limit else { return trips }
        return Swift.max(0, Swift.min(trips, limit.evaluate(environment)))
    }
}

/// A statement of a kernel program.
public indirect enum Stmt: Hashable, Sendable {
    case loop(Loop)
    /// Takes a fresh copy of an on-chip buffer (its declaration point in the emitted source).
    case allocate(Int)
    case op(Instruction)
    /// `nisa.core_barrier` on a shared HBM buffer: once every core's writes to the buffer are
    /// done, each may read what the others wrote to it. It orders that buffer only: a core reading
    /// another core's writes to any other tensor needs a barrier on that tensor. Only at the top
    /// level of a program that runs on several cores.
    case barrier(Int)
}

/// How a matrix multiply treats the PSUM values already in its destination.
public enum Accumulation: Hashable, Sendable {
    /// Overwrites the destination.
    case overwrite
    /// Overwrites when every listed loop variable is 0 and accumulates otherwise: one PSUM
    /// accumulation group spans those loops.
    case acrossLoops([Int])
}

/// The second operand of a `tensor_scalar` step.
public enum ScalarOperand: Hashable, Sendable {
    /// The same number for every element.
    case immediate(Float)
    /// One value per partition, from a `[P, 1]` region.
    case perPartition(Access)

    /// The region read, if any.
    public var access: Access? {
        if case .perPartition(let access) = self { return access }
        return nil
    }
}

/// One `op operand` step of a `tensor_scalar`.
public struct ScalarStep: Hashable, Sendable {
    /// The operation.
    public var op: ALUOp
    /// The second operand.
    public var operand: ScalarOperand

    /// Creates a value with every field given.
    public init(_ op: ALUOp, _ operand: ScalarOperand) {
        self.op = op
        self.operand = operand
    }
}

/// One NKI instruction. Accesses are regions of declared buffers.
public enum Instruction: Hashable, Sendable {
    /// `nisa.dma_copy`: element-wise copy between HBM and SBUF on a DMA queue.
    case dma(dst: Access, src: Access, queue: Int)
    /// `nisa.dma_copy` with `dst_rmw_op=nl.add`: adds the source into the destination (a scatter-add
    /// when the destination has a run-time offset).
    case dmaAdd(dst: Access, src: Access, queue: Int)
    /// `nisa.dma_transpose`: 2-D transpose while copying from HBM (`dst[j, i] = src[i, j]`).
    case dmaTranspose(dst: Access, src: Access, queue: Int)
    /// `nisa.nc_matmul`: `dst[M, N] (+)= stationary[K, M]^T x moving[K, N]`, fp32 in PSUM.
    case matmul(dst: Access, stationary: Access, moving: Access, accumulation: Accumulation)
    /// `nisa.nc_transpose` on TensorE: SBUF `src[P, F]` into PSUM `dst[F, P]`.
    case transpose(dst: Access, src: Access)
    /// `nisa.activation` on ScalarE: `dst = function(src * scale + bias)`, with `bias` one value per
    /// partition; with `reduce`, also the row sums of `dst` (fp32) into `reduce` (`activation_reduce`).
    case activation(
        dst: Access, src: Access, function: ActivationFunction, scale: Float = 1, bias: Access? = nil,
        reduce: Access? = nil)
    /// `nisa.tensor_tensor`: `dst = a op b`.
    case tensorTensor(dst: Access, a: Access, b: Access, op: ALUOp, engine: Engine)
    /// `nisa.tensor_scalar`: `dst = (src op0 operand0) op1 operand1` (one or two steps).
    case tensorScalar(dst: Access, src: Access, steps: [ScalarStep], engine: Engine)
    /// `nisa.tensor_reduce` on VectorE over the free dimensions, in element order:
    /// `dst[p, 0] = op over src[p, :]`; or, into a `dst` of `F > 1` elements per partition, over
    /// the last dimension of a `src` of `F` runs: `dst[p, f] = op over src[p, f, :]`.
    case tensorReduce(dst: Access, src: Access, op: ALUOp)
    /// `nisa.iota` on GpSimd: `dst[p, f] = offset + partition * p + free * f`.
    case iota(dst: Access, partition: Int, free: Int, offset: Affine)
    /// `nisa.max8` on VectorE: the 8 largest values of each partition, largest first.
    case max8(dst: Access, src: Access)
    /// `nisa.nc_find_index8` on VectorE: the index in `data` of each of the 8 `values` of a partition.
    case findIndex8(dst: Access, data: Access, values: Access)
    /// `nisa.tensor_copy`.
    case copy(dst: Access, src: Access, engine: Engine)
    /// `nisa.memset`.
    case memset(dst: Access, value: Float, engine: Engine)

    /// The engine that executes the instruction.
    public var engine: Engine {
        switch self {
        case .dma, .dmaTranspose, .dmaAdd: .dma
        case .matmul, .transpose: .tensor
        case .activation: .scalar
        case .max8, .findIndex8, .tensorReduce: .vector
        case .iota: .gpsimd
        case .tensorTensor(_, _, _, _, let engine), .tensorScalar(_, _, _, let engine), .copy(_, _, let engine),
            .memset(_, _, let engine):
            engine
        }
    }

    /// The region written (for `activation` with a reduction, the elementwise result).
    public var destination: Access {
        switch self {
        case .dma(let dst, _, _), .dmaTranspose(let dst, _, _), .dmaAdd(let dst, _, _), .matmul(let dst, _, _, _),
            .transpose(let dst, _), .activation(let dst, _, _, _, _, _), .tensorTensor(let dst, _, _, _, _),
            .tensorScalar(let dst, _, _, _), .tensorReduce(let dst, _, _), .max8(let dst, _),
            .findIndex8(let dst, _, _), .copy(let dst, _, _), .memset(let dst, _, _), .iota(let dst, _, _, _):
            dst
        }
    }

    /// Every region written.
    public var destinations: [Access] {
        if case .activation(let dst, _, _, _, _, let reduce?) = self { return [dst, reduce] }
        return [destination]
    }

    /// The regions read (an accumulating matmul also reads its destination; a DMA with a run-time
    /// offset also reads the offset).
    public var sources: [Access] {
        let dynamic = [destination.dynamic?.index].compactMap { $0 }
        return dynamic + directSources
    }

    private var directSources: [Access] {
        switch self {
        case .dma(_, let src, _), .dmaTranspose(_, let src, _):
            [src] + [src.dynamic?.index].compactMap { $0 }
        case .dmaAdd(let dst, let src, _):
            [src, dst] + [src.dynamic?.index].compactMap { $0 }
        case .transpose(_, let src), .copy(_, let src, _),
            .tensorReduce(_, let src, _), .max8(_, let src):
            [src]
        case .activation(_, let src, _, _, let bias, _): [src] + (bias.map { [$0] } ?? [])
        case .tensorScalar(_, let src, let steps, _): [src] + steps.compactMap(\.operand.access)
        case .findIndex8(_, let data, let values): [data, values]
        case .matmul(let dst, let stationary, let moving, let accumulation):
            accumulation == .overwrite ? [stationary, moving] : [stationary, moving, dst]
        case .tensorTensor(_, let a, let b, _, _): [a, b]
        case .memset, .iota: []
        }
    }
}

/// A whole NKI kernel: HBM arguments and outputs, on-chip buffers, loops and instructions.
///
/// One program feeds the emitter (NKI source), the interpreter (CPU check), the resource check and
/// the cost model, so the kernel that is timed, checked and written is the same kernel.
public struct KernelProgram: Hashable, Sendable {
    /// The kernel's Python function name.
    public var name: String
    /// The buffers, by id.
    public var buffers: [BufferDecl]
    /// The loop variables, by id.
    public var loopVariables: [LoopVar]
    /// The statements, in order.
    public var body: [Stmt]
    /// Physical NeuronCores that run the program (NKI's launch grid `kernel[cores]`): each runs the
    /// whole body with its own index, engines, SBUF and PSUM; HBM is shared. 1 for a one-core kernel.
    public var cores: Int = 1
    /// The loop variable that holds the core's index (`nl.program_id(0)`), when ``cores`` is above 1.
    public var coreVariable: Int?
    /// Leading statements of ``body`` that only load the kernel's arguments into buffers the rest
    /// reads (weights): a chained kernel (``ProgramChain``) issues them at an earlier stage's start,
    /// right after that stage's own loads of arguments.
    public var prefetch = 0

    /// HBM inputs in argument order.
    public var inputs: [BufferDecl] {
        buffers.compactMap { buffer -> (Int, BufferDecl)? in
            if case .input(let index) = buffer.role { return (index, buffer) }
            return nil
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// HBM outputs in declaration order.
    public var outputs: [BufferDecl] { buffers.filter { $0.role == .output } }

    /// Ids of the inputs the program writes: arguments it updates in place (a KV cache it appends to).
    public var updatedInputs: Set<Int> {
        var written: Set<Int> = []
        forEachInstruction { instruction, _ in
            for access in instruction.destinations {
                if case .input = buffers[access.buffer].role { written.insert(access.buffer) }
            }
        }
        return written
    }

    /// The body cut at its top-level barriers: every core finishes a phase before any core starts
    /// the next. One phase when the program has no barrier.
    public var phases: [[Stmt]] {
        var phases: [[Stmt]] = [[]]
        for statement in body {
            if case .barrier = statement { phases.append([]) } else { phases[phases.count - 1].append(statement) }
        }
        return phases
    }

    /// The buffer each top-level barrier names, in order: barrier `p` ends phase `p`.
    public var barrierBuffers: [Int] {
        body.compactMap { statement in
            if case .barrier(let id) = statement { id } else { nil }
        }
    }

    /// Instructions the program executes, counting each loop at its full trip count (an upper
    /// bound where a loop has a limit); saturates at `Int.max`.
    public var executedInstructions: Int {
        func count(_ statements: [Stmt]) -> Int {
            statements.reduce(0) { total, statement in
                let inner: Int
                switch statement {
                case .loop(let loop):
                    let (product, overflow) = loop.trips.multipliedReportingOverflow(by: count(loop.body))
                    inner = overflow ? Int.max : product
                case .allocate, .barrier: inner = 0
                case .op: inner = 1
                }
                let (sum, overflow) = total.addingReportingOverflow(inner)
                return overflow ? Int.max : sum
            }
        }
        return count(body)
    }

    /// Calls `visit` with every instruction and the loops around it, in program order.
    public func forEachInstruction(_ visit: (Instruction, [Loop]) -> Void) {
        func walk(_ statements: [Stmt], _ loops: [Loop]) {
            for statement in statements {
                switch statement {
                case .loop(let loop): walk(loop.body, loops + [loop])
                case .allocate, .barrier: break
                case .op(let instruction): visit(instruction, loops)
                }
            }
        }
        walk(body, [])
    }
}

/// Builds a ``KernelProgram``: declares buffers and loop variables and hands out their ids.
public struct ProgramBuilder {
    /// The buffers, by id.
    public private(set) var buffers: [BufferDecl] = []
    /// The loop variables declared so far.
    public private(set) var variables: [LoopVar] = []

    /// Creates a value with every field given.
    public init() {}

    /// Declares a buffer and returns it.
    public mutating func buffer(
        _ name: String, _ memory: Memory, _ shape: [Int], _ dtype: DType, copies: Int = 1,
        role: TensorRole = .scratch
    ) -> BufferDecl {
        let decl = BufferDecl(
            id: buffers.count, name: name, memory: memory, shape: shape, dtype: dtype, copies: copies,
            role: role)
        buffers.append(decl)
        return decl
    }

    /// Declares a loop variable and returns it.
    public mutating func variable(_ name: String) -> LoopVar {
        let variable = LoopVar(id: variables.count, name: name)
        variables.append(variable)
        return variable
    }

    /// Declares the variable that holds the core's index in a program for several cores
    /// (`nl.program_id(0)`); pass it to ``program(name:body:cores:coreVariable:)``.
    public mutating func coreIndex() -> LoopVar { variable("core") }

    /// The finished program; `cores` above 1 needs the `coreVariable` from ``coreIndex()``.
    public func program(name: String, body: [Stmt], cores: Int = 1, coreVariable: LoopVar? = nil) -> KernelProgram {
        precondition(cores == 1 || coreVariable != nil, "a program for several cores needs its core variable")
        var program = KernelProgram(name: name, buffers: buffers, loopVariables: variables, body: body)
        program.cores = cores
        program.coreVariable = cores > 1 ? coreVariable?.id : nil
        return program
    }
}
