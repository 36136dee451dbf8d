import KernelSpace

/// What the performance model predicts for one kernel on one target.
public struct CostReport: Hashable, Sendable {
    /// Predicted latency in ns, launch overhead included.
    public var latency: Double
    /// Simulated time from the first instruction to the last, without launch overhead (ns).
    public var deviceTime: Double
    /// Busy time of each engine (ns). For `.dma`, the time the core's DMA bandwidth is in use.
    public var busy: [Engine: Double]
    /// Bytes moved by DMA.
    public var dmaBytes: Int
    /// Multiply-accumulates done by TensorE matmuls.
    public var macs: Int
    /// Instructions executed.
    public var instructions: Int

    /// The engine with the largest busy time.
    public var boundingEngine: Engine {
        busy.max { $0.value < $1.value || ($0.value == $1.value && $0.key.rawValue > $1.key.rawValue) }?.key ?? .tensor
    }
}

extension CostReport {
    /// The report of a kernel whose cores ran the given reports side by side: the slowest core's
    /// latency; busy times, bytes, MACs and instructions summed over the cores.
    public init(combining cores: [CostReport]) {
        let slowest = cores.max { $0.latency < $1.latency }
        self.init(
            latency: slowest?.latency ?? 0, deviceTime: slowest?.deviceTime ?? 0,
            busy: cores.reduce(into: [:]) { total, report in total.merge(report.busy, uniquingKeysWith: +) },
            dmaBytes: cores.reduce(0) { $0 + $1.dmaBytes }, macs: cores.reduce(0) { $0 + $1.macs },
            instructions: cores.reduce(0) { $0 + $1.instructions })
    }
}
