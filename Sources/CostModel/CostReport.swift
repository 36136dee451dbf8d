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
