import Foundation
import KernelSpace

/// One NeuronCore generation as the performance model sees it. Every number carries its source:
/// [D] documented by AWS, [I] inferred from documented numbers, as tagged in
/// `shared/reference/neuroncore.md`. Nothing here is fitted to a single benchmark case.
public struct Target: Hashable, Sendable {
    /// `trn1`, `trn2` or `trn3`.
    public var name: String
    /// NeuronCore generation, for messages.
    public var core: String

    // Clocks in GHz.
    /// TensorE clock (GHz).
    public var tensorClock: Double
    /// VectorE clock (GHz).
    public var vectorClock: Double
    /// ScalarE clock (GHz).
    public var scalarClock: Double
    /// GpSimd clock (GHz).
    public var gpsimdClock: Double

    // On-chip memory.
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

    // Instruction costs, in cycles of the executing engine.
    /// Smallest initiation interval of a Vector/Scalar/GpSimd instruction (MIN_II).
    public var minimumCycles: Double
    /// Cycles to start an SBUF/PSUM access, paid by every Vector/Scalar/GpSimd instruction.
    public var accessStartCycles: Double
    /// Extra cycles when a Vector/Scalar/GpSimd instruction depends on the one just before it.
    public var dependentInstructionCycles: Double
    /// Fixed cycles of `iota` / `affine_select` on GpSimd (cost 150 + N).
    public var selectCycles: Double
    /// fp32 matmuls run at a quarter of the bf16 rate.
    public var fp32MatmulFactor: Double
    /// LoadStationary is up to this much faster than a MultiplyMoving of the same free size.
    public var loadStationarySpeedup: Double
    /// VectorE performance mode (NeuronCore-v3+): bf16 copy/tensor_scalar 4x, all-bf16 tensor_tensor 2x.
    public var vectorPerformanceMode: Bool
    /// VectorE and GpSimd share SBUF access, VectorE and ScalarE share PSUM access (NeuronCore-v2).
    public var serialisesEngineAccess: Bool
    /// TensorE starts at half rate after idling and ramps to full over this window (ns); 0 = no throttle.
    public var tensorThrottleWindow: Double

    // DMA.
    /// DMA engines of one core.
    public var dmaEngines: Int
    /// Bytes per ns one DMA engine moves at full efficiency.
    public var dmaBytesPerNsPerEngine: Double
    /// Partitions one DMA engine serves for a tile spread over all engines.
    public var dmaPartitionsPerEngine: Int
    /// ns from semaphore to the start of a transfer.
    public var dmaFixedLatency: Double
    /// ns of descriptor generation per DMA instruction, serial per queue (hidden behind earlier work).
    public var dmaDescriptorTime: Double
    /// Hardware queues the compiler spreads one stream of independent DMAs over.
    public var dmaQueuesPerStream: Int
    /// How many queues' per-row latency can overlap when several DMAs are in flight.
    public var dmaQueueOverlap: Double
    /// DMA transpose throughput relative to a plain copy (HBM to SBUF); nil where it does not exist.
    public var dmaTransposeEfficiency: Double?
    /// Relative throughput against bytes per partition row (table points, interpolated).
    public var dmaEfficiency: [(bytes: Double, efficiency: Double)]
    /// Row bytes are multiplied by this before the efficiency table is read: 1 is the chart as read,
    /// below 1 moves the whole curve toward larger rows (small rows less efficient). Calibration's knob
    /// for the chart reading.
    public var dmaEfficiencyShift: Double = 1

    /// Fixed cost of launching a kernel, added to every latency (ns).
    public var launchOverhead: Double

    // Two physical cores of one logical core (LNC 2).
    /// Physical cores of one logical core a kernel may run on (1 where there is no LNC 2).
    public var coresPerLogicalCore: Int
    /// Bytes per ns of the HBM stack the two cores of a logical core share: with both cores moving
    /// data, each core's DMA gets at most half of it.
    public var sharedHBMBytesPerNs: Double
    /// ns from the last core reaching a `core_barrier` (its writes complete) to every core going on.
    public var coreBarrierLatency: Double

    /// The constants of this target that are inferred [I] rather than documented [D]: what
    /// calibration fits by default.
    public var inferred: Set<TargetConstant>

    /// Targets are equal when their names are.
    public static func == (lhs: Target, rhs: Target) -> Bool { lhs.name == rhs.name }
    /// Hashes the name.
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }

    /// The on-chip limits the resource check enforces.
    public var limits: ResourceLimits {
        ResourceLimits(
            target: name, partitions: partitions, sbufBytesPerPartition: sbufBytesPerPartition, psumBanks: psumBanks,
            psumBankBytes: psumBankBytes, matmulMaxMoving: matmulMaxMoving,
            hasDMATranspose: dmaTransposeEfficiency != nil, coresPerProgram: coresPerLogicalCore)
    }

    /// Peak dense bf16 multiply-accumulates per ns (128 x 128 array, one per cycle).
    public var peakMACsPerNs: Double { Double(partitions * partitions) * tensorClock }

    /// Peak DMA bytes per ns for the core.
    public var peakDMABytesPerNs: Double { Double(dmaEngines) * dmaBytesPerNsPerEngine }

    /// Relative DMA throughput for rows of `bytes` bytes.
    public func dmaEfficiency(rowBytes: Double) -> Double {
        let table = dmaEfficiency
        let bytes = rowBytes * dmaEfficiencyShift
        if bytes <= table[0].bytes { return table[0].efficiency * bytes / table[0].bytes }
        for index in 1..<table.count where bytes <= table[index].bytes {
            let (low, high) = (table[index - 1], table[index])
            let fraction = (log2(bytes) - log2(low.bytes)) / (log2(high.bytes) - log2(low.bytes))
            return low.efficiency + fraction * (high.efficiency - low.efficiency)
        }
        return table[table.count - 1].efficiency
    }

    /// Every built-in target.
    public static let all: [Target] = [.trn1, .trn2, .trn3]

    /// The built-in target with this name.
    public static func named(_ name: String) -> Target? { all.first { $0.name == name } }
}
