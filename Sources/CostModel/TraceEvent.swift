import KernelSpace

/// One executed instruction on the timeline.
public struct TraceEvent: Hashable, Sendable {
    /// A compute engine or a DMA queue.
    public enum Lane: Hashable, Sendable, Comparable {
        case engine(Engine)
        case dmaQueue(Int)

        /// Name shown on a timeline lane.
        public var label: String {
            switch self {
            case .engine(.tensor): "TensorE"
            case .engine(.vector): "VectorE"
            case .engine(.scalar): "ScalarE"
            case .engine(.gpsimd): "GpSimd"
            case .engine(.dma): "DMA"
            case .dmaQueue(let queue): "DMA group \(queue)"
            }
        }

        private var order: Int {
            switch self {
            case .engine(.tensor): 0
            case .engine(.vector): 1
            case .engine(.scalar): 2
            case .engine(.gpsimd): 3
            case .engine(.dma): 4
            case .dmaQueue(let queue): 5 + queue
            }
        }

        /// Orders lanes as the timeline draws them: the engines, then the DMA queue groups.
        public static func < (lhs: Lane, rhs: Lane) -> Bool { lhs.order < rhs.order }
    }

    /// The engine or DMA queue group it ran on.
    public var lane: Lane
    /// `matmul`, `transpose`, `elementwise`, `dma`, `dma_transpose`, or `barrier` (a core barrier,
    /// on GpSimd, from this core's arrival until every core leaves it).
    public var kind: String
    /// ns from the start of the kernel.
    public var start: Double
    /// When it ends (ns).
    public var end: Double
    /// The program buffer it writes (for a barrier, the tensor it synchronises).
    public var writes: String
    /// What it waited for last before it could start.
    public var waited: Wait

    /// What an instruction waited for last before it could start: the event whose end released
    /// it. An instruction with nothing to wait for starts at the kernel's start; a DMA then still
    /// pays its start-up latency.
    public enum Wait: Hashable, Sendable {
        /// Nothing.
        case nothing
        /// Its data: the event (an index into the trace) that last wrote what it reads, or last
        /// read the buffer copy it overwrites.
        case data(Int)
        /// Its engine or DMA queue, busy until the event at that index ended.
        case lane(Int)

        /// The event waited for, if any.
        public var event: Int? {
            switch self {
            case .nothing: nil
            case .data(let index), .lane(let index): index
            }
        }
    }

    /// Creates a value with every field given.
    public init(lane: Lane, kind: String, start: Double, end: Double, writes: String, waited: Wait) {
        self.lane = lane
        self.kind = kind
        self.start = start
        self.end = end
        self.writes = writes
        self.waited = waited
    }
}
