import KernelSpace

/// A hardware backend's timings as the cache recorded them, for commands that only read them
/// (`best`, `export`, `model`) on a machine where that backend cannot run. It measures nothing.
///
/// ```swift
/// let toolchain = try cache.latestToolchain(backend: "neuron")
/// let backend = RecordedBackend(name: "neuron", toolchain: toolchain!)
/// ```
public struct RecordedBackend: Backend {
    /// The backend whose timings these are.
    public let name: String
    /// The toolchain they were measured with.
    public let toolchain: String
    /// None: it measures nothing.
    public let measureSlots = 1

    /// The recorded timings of `name` under `toolchain`.
    public init(name: String, toolchain: String) {
        self.name = name
        self.toolchain = toolchain
    }

    /// Refuses: a recorded backend only reads.
    public func compile(_ variant: Variant) -> Result<CompiledVariant, MeasurementResult> {
        .failure(MeasurementResult(.failed("harness error: the \(name) backend is only read from the cache here")))
    }

    /// Refuses: a recorded backend only reads.
    public func measure(_ compiled: CompiledVariant, slot: Int) -> Measurement {
        .failed("harness error: the \(name) backend is only read from the cache here")
    }
}
