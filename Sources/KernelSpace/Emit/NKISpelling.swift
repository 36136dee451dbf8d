/// Every NKI name the emitter prints, for NKI Beta 2 (Neuron SDK 2.27 through 2.32; what differs
/// between releases is in ``NKIRelease``). A later SDK that renames something needs an edit here only.
public enum NKISpelling {
    /// The SDK dialect the emitted source targets.
    public static func dialect(_ release: NKIRelease) -> String { "NKI Beta 2 (Neuron SDK \(release.rawValue))" }

    static let imports = ["import nki", "import nki.isa as nisa", "import nki.language as nl"]
    static let jit = "@nki.jit"

    static func loop(_ kind: LoopKind) -> String {
        switch kind {
        case .affine: "nl.affine_range"
        case .sequential: "nl.sequential_range"
        case .static: "nl.static_range"
        }
    }

    static func dtype(_ dtype: DType) -> String {
        switch dtype {
        case .bf16: "nl.bfloat16"
        case .fp32: "nl.float32"
        case .int32: "nl.int32"
        }
    }

    static func memory(_ memory: Memory) -> String {
        switch memory {
        case .hbm: "nl.shared_hbm"
        case .sbuf: "nl.sbuf"
        case .psum: "nl.psum"
        }
    }

    static let dynamicRange = "nl.dynamic_range"
    static let registerAlloc = "nisa.register_alloc"
    static let registerLoad = "nisa.register_load"
    static let programID = "nl.program_id"
    static let coreBarrier = "nisa.core_barrier"
    static let ndarray = "nl.ndarray"
    static let zeros = "nl.zeros"

    static func engine(_ engine: Engine) -> String {
        switch engine {
        case .tensor: "nisa.engine.tensor"
        case .vector: "nisa.engine.vector"
        case .scalar: "nisa.engine.scalar"
        case .gpsimd: "nisa.engine.gpsimd"
        case .dma: "nisa.engine.sync"
        }
    }

    static func activation(_ function: ActivationFunction) -> String {
        switch function {
        case .copy: "nl.copy"
        case .silu: "nl.silu"
        case .exp: "nl.exp"
        case .square: "nl.square"
        }
    }

    static func alu(_ op: ALUOp) -> String {
        switch op {
        case .add: "nl.add"
        case .subtract: "nl.subtract"
        case .multiply: "nl.multiply"
        case .divide: "nl.divide"
        case .maximum: "nl.maximum"
        case .minimum: "nl.minimum"
        case .power: "nl.power"
        }
    }

    static let dmaCopy = "nisa.dma_copy"
    static let skipOutOfRange = "nisa.oob_mode.skip"
    static let dmaCompute = "nisa.dma_compute"
    static let dmaTranspose = "nisa.dma_transpose"
    static let matmul = "nisa.nc_matmul"
    static let transpose = "nisa.nc_transpose"
    static let activationCall = "nisa.activation"
    static let activationReduce = "nisa.activation_reduce"
    static let tensorReduce = "nisa.tensor_reduce"
    static let max8 = "nisa.max8"
    static let iota = "nisa.iota"
    static let findIndex8 = "nisa.nc_find_index8"
    static let tensorTensor = "nisa.tensor_tensor"
    static let tensorScalar = "nisa.tensor_scalar"
    static let tensorCopy = "nisa.tensor_copy"
    static let memset = "nisa.memset"
}
