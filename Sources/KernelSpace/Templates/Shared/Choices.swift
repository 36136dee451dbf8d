/// How an operand that the hardware wants with its contraction dimension on partitions gets there.
public enum OperandLayout: String, ParameterChoice {
    /// The caller passes it already transposed.
    case pretransposed
    /// Transposed in the kernel on TensorE (through PSUM).
    case tensorTranspose = "tensor_transpose"
    /// Transposed while loading, by `dma_transpose`.
    case dmaTranspose = "dma_transpose"
}

/// Type of an accumulator or sum kept in SBUF.
public enum AccumulatorType: String, ParameterChoice {
    /// float32.
    case fp32
    /// bfloat16 (half the footprint; rounds the partial sums).
    case bf16

    /// The buffer type.
    public var dtype: DType { self == .bf16 ? .bf16 : .fp32 }
}

/// Whether gate and up projection columns are loaded in one DMA or one each.
public enum GateUpLoad: String, ParameterChoice {
    /// One DMA per hidden tile for both.
    case fused
    /// One DMA each.
    case separate
}

/// Which matmul operand an expert's weights are (``ExpertMLPDecodeTemplate``).
public enum WeightOperand: String, ParameterChoice {
    /// The weights stream as the moving operand past the token rows (stationary): results come out
    /// with tokens on partitions.
    case moving
    /// The weights are the stationary operand, 128 x 128 at a time, and the token column moves:
    /// results come out with the intermediate and hidden sizes on partitions, so the elementwise
    /// steps and the weighted sum touch few elements per partition.
    case stationary
}

/// How K lies on the partitions when a linear's W is the stationary operand
/// (``StationaryLinearBuilder``): the order of the fp32 sums over K and of X's load.
public enum ContractionOrder: String, ParameterChoice {
    /// `k = p * K/128 + kt`, a `[128, K/128]` reshape of X's row: each block of W's rows loads in
    /// one contiguous DMA; a bf16 X row loads whole onto one partition and `K/128` strided TensorE
    /// transposes lay it out (an fp32 row is reshaped by its DMA, in `K/128`-element runs).
    case interleaved
    /// `k = kt * 128 + p`, K in tiles of 128: X loads as `K/128` rows of 128 (or is handed over
    /// on chip in that shape) and TensorE transposes it; W loads one K tile per DMA.
    case tiles
}

/// Where an RMSNorm puts a token's hidden values (``RMSNormTemplate``).
public enum NormLayout: String, ParameterChoice {
    /// Tokens on partitions, a token's row along one partition: the sum of squares in element
    /// order.
    case tokens
    /// One token at a time, its row spread over the 128 partitions (`h = p * H/128 + f`, as a
    /// `[128, H/128]` reshape): per-partition sums, then a matmul with ones adds them across
    /// partitions (a different summation order).
    case hidden
}

/// Where per-head work puts a token's heads (``QKNormRopeTemplate``).
public enum HeadLayout: String, ParameterChoice {
    /// Tokens on partitions, one head at a time.
    case tokens
    /// One token at a time, every q and k head on its own partition: each step runs once for all
    /// heads (same arithmetic per head, so the same bits).
    case heads
}

/// How a contraction over the hidden size walks it (``RouterTemplate``).
public enum HiddenOrder: String, ParameterChoice {
    /// In tiles of 128 consecutive values (`h = tile * 128 + p`), each brought onto partitions.
    case tiles
    /// Interleaved, `h = p * H/128 + f`: a row, and the weight matrix, load into `[128, H/128]`
    /// layouts by contiguous DMAs with no transpose; the sum runs over `f` outside `p`, a
    /// different order.
    case interleaved
}

/// Where the router normalises its softmax.
public enum SoftmaxScope: String, ParameterChoice {
    /// Over all experts before choosing the top k.
    case full
    /// Only over the chosen top k.
    case topk
}

/// When decode attention divides by the softmax sum.
public enum NormalisePoint: String, ParameterChoice {
    /// The probabilities, before P V.
    case before
    /// The output, after P V.
    case after
}

/// The activation a linear product applies to its output.
public enum LinearActivation: String, ParameterChoice {
    /// None.
    case none
    /// SiLU.
    case silu

    /// The ScalarE function.
    public var function: ActivationFunction { self == .silu ? .silu : .copy }
}

/// The routing a prefill expert kernel is timed for (its block tables are run-time inputs).
public enum RoutingScenario: String, ParameterChoice {
    /// The `T * k` choices spread evenly over the experts.
    case balanced
    /// Favouring low-numbered experts (weights about 1 / rank).
    case skewed
}

/// How a fused block's stages pass intermediates to each other
/// (``KernelProgram/handingOverOnChip(engine:)``).
public enum StageHandoff: String, ParameterChoice {
    /// Stored to HBM by one stage and loaded back by the next.
    case hbm
    /// Copied in SBUF on VectorE where the producer's tile and the consumer's agree; else HBM.
    case vector
    /// Copied in SBUF on GpSimdE where the producer's tile and the consumer's agree; else HBM.
    case gpsimd

    /// The engine of the on-chip copies, or nil for HBM.
    public var engine: Engine? {
        switch self {
        case .hbm: nil
        case .vector: .vector
        case .gpsimd: .gpsimd
        }
    }

    /// The block's parameter, the same in every fused block.
    static let key = ChoiceKey<StageHandoff>(
        "handoff", StageHandoff.allCases, default: .vector,
        "how stages pass intermediates: copied on chip by VectorE or GpSimdE where the tiles agree (HBM where not), "
            + "or all through HBM")

    /// `program` with its intermediates handed over as this choice says.
    func apply(to program: KernelProgram) -> KernelProgram {
        engine.map { program.handingOverOnChip(engine: $0) } ?? program
    }
}

/// How causal attention over a prompt normalises a query tile's scores (``AttentionPrefillTemplate``).
public enum SoftmaxPass: String, ParameterChoice {
    /// Flash style: each key tile updates a running row maximum, row sum and output accumulator,
    /// rescaled by `exp(m_old - m_new)`.
    case online
    /// The whole causal row at once: every key tile's scores into one SBUF row, one maximum, one
    /// exponential with its sum, then `P V` accumulated over the key tiles in PSUM and divided once
    /// (no rescaling; the row must fit in SBUF).
    case row
}

/// Where attention over a prompt keeps a KV head's keys and values (``AttentionPrefillTemplate``).
public enum KVPlacement: String, ParameterChoice {
    /// Each key tile's K and V load again for every query tile that reads them.
    case stream
    /// A KV head's whole K^T and V load once into SBUF and serve all its query heads and tiles.
    case resident
}
