import CostModel
import KernelSpace

/// A compiled variant, ready to measure: its program and whatever artifact the backend built.
public struct CompiledVariant: Sendable {
    /// The variant.
    public var variant: Variant
    /// The program.
    public var program: KernelProgram
    /// Backend-specific artifact (a path to a NEFF on the neuron backend); nil for the model.
    public var artifact: String?
    /// Seconds spent compiling.
    public var compileSeconds: Double

    /// Creates a value with every field given.
    public init(variant: Variant, program: KernelProgram, artifact: String?, compileSeconds: Double) {
        self.variant = variant
        self.program = program
        self.artifact = artifact
        self.compileSeconds = compileSeconds
    }
}

/// The one seam to hardware: compile a variant, then measure it on one slot.
///
/// `compile` may run on many threads at once; `measure` runs on at most ``measureSlots`` at once,
/// one per slot (a NeuronCore on a Trainium host).
public protocol Backend: Sendable {
    /// `model` or `neuron`.
    var name: String { get }
    /// What produced the timings (compiler and runtime versions, or the model's version): part of
    /// every cache key, so a new toolchain measures again.
    var toolchain: String { get }
    /// How many measurements may run at once.
    var measureSlots: Int { get }
    /// How many compilations may run at once beside the measurements; nil: each evaluating thread
    /// compiles, then measures (the model, whose compile is only a check).
    var compileSlots: Int? { get }
    /// The constants the performance model takes when it predicts for this backend (a stored
    /// calibration); empty for the target as documented. `guided` ranks with them.
    var calibration: [TargetConstant: Double] { get }
    /// Instantiates and compiles; a variant that breaks a limit or fails to compile comes back as
    /// a ``Measurement`` instead.
    func compile(_ variant: Variant) -> Result<CompiledVariant, MeasurementResult>
    /// Times a compiled variant on one slot.
    func measure(_ compiled: CompiledVariant, slot: Int) -> Measurement
    /// Called before each measurement on `slot`: whether the slot can be used (false retires it,
    /// and the measurement goes to another slot).
    func prepare(slot: Int) -> Bool
}

/// A measurement carried as an error, for `compile` results that end the evaluation early.
public struct MeasurementResult: Error, Sendable {
    /// The measurement.
    public var measurement: Measurement

    /// Creates a value with every field given.
    public init(_ measurement: Measurement) { self.measurement = measurement }
}

extension Backend {
    /// No calibration: the performance model as documented.
    public var calibration: [TargetConstant: Double] { [:] }
    /// Each evaluating thread compiles, then measures.
    public var compileSlots: Int? { nil }
    /// Every slot is always usable.
    public func prepare(slot: Int) -> Bool { true }
}
