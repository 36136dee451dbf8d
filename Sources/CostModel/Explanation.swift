import KernelSpace

/// Why a kernel takes the time it does: the figures `nkitune explain` prints.
public struct Explanation: Sendable {
    /// The simulation report.
    public var report: CostReport
    /// The target chip.
    public var target: Target
    /// What the program needs of SBUF and PSUM.
    public var usage: ResourceUsage

    /// Busy share of each engine over the device time.
    public func share(_ engine: Engine) -> Double {
        report.deviceTime > 0 ? (report.busy[engine] ?? 0) / report.deviceTime : 0
    }

    /// Achieved DMA bandwidth over the device time, bytes per ns (GB/s).
    public var achievedBandwidth: Double { report.deviceTime > 0 ? Double(report.dmaBytes) / report.deviceTime : 0 }

    /// Share of the core's peak DMA bandwidth achieved.
    public var bandwidthUtilisation: Double { achievedBandwidth / target.peakDMABytesPerNs }

    /// Model FLOPs utilisation: MACs done over what TensorE could do at its bf16 peak in the latency.
    public var mfu: Double { report.latency > 0 ? Double(report.macs) / (report.latency * target.peakMACsPerNs) : 0 }

    /// One line on what bounds the kernel.
    public var verdict: String {
        if report.deviceTime < target.launchOverhead {
            return
                "latency-bound: the launch overhead (\(Int(target.launchOverhead / 1000)) us) exceeds the kernel's own time"
        }
        let engine = report.boundingEngine
        let busiest = share(engine)
        guard busiest >= 0.7 else {
            return "latency-bound: no engine is busy more than \(Int(busiest * 100))% of the time; "
                + "dependencies and DMA start-up latency dominate"
        }
        switch engine {
        case .tensor: return "compute-bound on TensorE (busy \(Int(busiest * 100))% of the time)"
        case .dma: return "DMA-bound (DMA busy \(Int(busiest * 100))% of the time)"
        case .vector, .scalar, .gpsimd:
            return "eviction-bound on \(engine.rawValue) (busy \(Int(busiest * 100))% of the time)"
        }
    }

    /// Explains a program on a target.
    public static func of(_ program: KernelProgram, on target: Target) -> (Explanation, [TraceEvent]) {
        let (report, events) = Timeline.trace(program, on: target)
        let usage = ResourceCheck.usage(of: program, limits: target.limits)
        return (Explanation(report: report, target: target, usage: usage), events)
    }
}
