import Foundation

/// A constant of a ``Target`` that calibration may fit, with the range of values that are still
/// physically plausible. Which ones are inferred [I] on a given target is that target's
/// ``Target/inferred``; the rest are documented [D] and stay fixed unless asked.
///
/// ```swift
/// var target = Target.trn2
/// TargetConstant.dmaQueueOverlap.set(1.5, in: &target)
/// ```
public enum TargetConstant: String, CaseIterable, Sendable, Hashable, Comparable {
    /// ``Target/dmaQueueOverlap``.
    case dmaQueueOverlap = "dma_queue_overlap"
    /// ``Target/dmaQueuesPerStream`` (an integer).
    case dmaQueuesPerStream = "dma_queues_per_stream"
    /// ``Target/dmaEfficiencyShift``.
    case dmaEfficiencyShift = "dma_efficiency_shift"
    /// ``Target/dmaDescriptorTime`` (ns).
    case dmaDescriptorTime = "dma_descriptor_time"
    /// ``Target/dmaTransposeEfficiency`` (targets with DMA transpose only).
    case dmaTransposeEfficiency = "dma_transpose_efficiency"
    /// ``Target/dmaFixedLatency`` (ns).
    case dmaFixedLatency = "dma_fixed_latency"
    /// ``Target/dmaBytesPerNsPerEngine``.
    case dmaBytesPerNsPerEngine = "dma_bytes_per_ns_per_engine"
    /// ``Target/accessStartCycles``.
    case accessStartCycles = "access_start_cycles"
    /// ``Target/dependentInstructionCycles``.
    case dependentInstructionCycles = "dependent_instruction_cycles"
    /// ``Target/loadStationarySpeedup``.
    case loadStationarySpeedup = "load_stationary_speedup"
    /// ``Target/launchOverhead`` (ns).
    case launchOverhead = "launch_overhead"
    /// ``Target/coreBarrierLatency`` (ns).
    case coreBarrierLatency = "core_barrier_latency"

    /// Orders by declaration, so fits and reports list constants the same way every time.
    public static func < (lhs: TargetConstant, rhs: TargetConstant) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// The plausible range of the constant on `target`: a fit never leaves it.
    public func range(on target: Target) -> ClosedRange<Double> {
        switch self {
        case .dmaQueueOverlap: 1...4
        case .dmaQueuesPerStream: 1...8
        case .dmaEfficiencyShift: 0.25...4
        case .dmaDescriptorTime: 100...3000
        case .dmaTransposeEfficiency: 0.3...1
        case .dmaFixedLatency: 300...4000
        // No engine runs faster than its documented peak; a slower one is plausible.
        case .dmaBytesPerNsPerEngine: (target.dmaBytesPerNsPerEngine * 0.5)...target.dmaBytesPerNsPerEngine
        case .accessStartCycles: 0...240
        case .dependentInstructionCycles: 0...400
        case .loadStationarySpeedup: 1...8
        case .launchOverhead: 0...40_000
        case .coreBarrierLatency: 200...20_000
        }
    }

    /// Whether the constant takes integer values only.
    public var isInteger: Bool { self == .dmaQueuesPerStream }

    /// Whether the fit moves the constant on a log scale (ratios matter, not differences).
    public var isLogScale: Bool {
        switch self {
        case .dmaEfficiencyShift, .dmaDescriptorTime, .dmaFixedLatency, .loadStationarySpeedup, .coreBarrierLatency:
            true
        default: false
        }
    }

    /// Whether `target` has this constant at all (DMA transpose is a trn2 feature).
    public func exists(on target: Target) -> Bool {
        self != .dmaTransposeEfficiency || target.dmaTransposeEfficiency != nil
    }

    /// The constant's value on `target`.
    public func value(on target: Target) -> Double {
        switch self {
        case .dmaQueueOverlap: target.dmaQueueOverlap
        case .dmaQueuesPerStream: Double(target.dmaQueuesPerStream)
        case .dmaEfficiencyShift: target.dmaEfficiencyShift
        case .dmaDescriptorTime: target.dmaDescriptorTime
        case .dmaTransposeEfficiency: target.dmaTransposeEfficiency ?? 1
        case .dmaFixedLatency: target.dmaFixedLatency
        case .dmaBytesPerNsPerEngine: target.dmaBytesPerNsPerEngine
        case .accessStartCycles: target.accessStartCycles
        case .dependentInstructionCycles: target.dependentInstructionCycles
        case .loadStationarySpeedup: target.loadStationarySpeedup
        case .launchOverhead: target.launchOverhead
        case .coreBarrierLatency: target.coreBarrierLatency
        }
    }

    /// Sets the constant on `target`, clamped to ``range(on:)`` (and rounded for integers).
    public func set(_ value: Double, in target: inout Target) {
        let range = range(on: target)
        let clamped = min(max(value, range.lowerBound), range.upperBound)
        switch self {
        case .dmaQueueOverlap: target.dmaQueueOverlap = clamped
        case .dmaQueuesPerStream: target.dmaQueuesPerStream = Int(clamped.rounded())
        case .dmaEfficiencyShift: target.dmaEfficiencyShift = clamped
        case .dmaDescriptorTime: target.dmaDescriptorTime = clamped
        case .dmaTransposeEfficiency:
            if target.dmaTransposeEfficiency != nil { target.dmaTransposeEfficiency = clamped }
        case .dmaFixedLatency: target.dmaFixedLatency = clamped
        case .dmaBytesPerNsPerEngine: target.dmaBytesPerNsPerEngine = clamped
        case .accessStartCycles: target.accessStartCycles = clamped
        case .dependentInstructionCycles: target.dependentInstructionCycles = clamped
        case .loadStationarySpeedup: target.loadStationarySpeedup = clamped
        case .launchOverhead: target.launchOverhead = clamped
        case .coreBarrierLatency: target.coreBarrierLatency = clamped
        }
    }
}

extension Target {
    /// This target with some constants replaced (each clamped to its plausible range).
    public func applying(_ values: [TargetConstant: Double]) -> Target {
        var target = self
        for (constant, value) in values where constant.exists(on: self) { constant.set(value, in: &target) }
        return target
    }
}
