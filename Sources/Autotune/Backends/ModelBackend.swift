import CostModel
import Foundation
import KernelSpace

/// The default backend: the NeuronCore performance model. No hardware, no Python; every slot is a
/// CPU thread.
public struct ModelBackend: Backend {
    /// `model`.
    public let name = "model"
    /// What produced the timings: the model version, and the calibrated constants when there are
    /// some (so calibrated timings never mix with documented ones). The calibration's name is left
    /// out: it is the user's text, and the toolchain is written into exported code.
    public let toolchain: String
    /// How many measurements may run at once.
    public let measureSlots: Int
    /// The calibrated constants the model times with; empty for the documented target.
    public let calibration: [TargetConstant: Double]

    /// A model backend with `slots` threads, timing on the documented target or, given a stored
    /// calibration, on the calibrated one.
    public init(slots: Int = ProcessInfo.processInfo.activeProcessorCount, calibration: StoredCalibration? = nil) {
        measureSlots = max(1, slots)
        self.calibration = calibration?.values ?? [:]
        toolchain =
            "costmodel-\(CostModelVersion.current)"
            + (calibration.map { " calibrated(\($0.valuesKey))" } ?? "")
    }

    /// Checks the restrictions and hardware limits and builds the program; the model needs no compiler.
    public func compile(_ variant: Variant) -> Result<CompiledVariant, MeasurementResult> {
        let start = ContinuousClock.now
        let program: KernelProgram
        switch variant.validProgram() {
        case .success(let built): program = built
        case .failure(let invalid): return .failure(invalid)
        }
        let seconds = (ContinuousClock.now - start).seconds
        return .success(CompiledVariant(variant: variant, program: program, artifact: nil, compileSeconds: seconds))
    }

    /// Times the program on the performance model.
    public func measure(_ compiled: CompiledVariant, slot: Int) -> Measurement {
        let start = ContinuousClock.now
        let report = Timeline.simulate(compiled.program, on: compiled.variant.target.applying(calibration))
        let metrics: [String: Double] = [
            "dma_bytes": Double(report.dmaBytes), "instructions": Double(report.instructions),
        ]
        return Measurement(
            status: .ok, latency: report.latency, latencyMin: report.latency, latencyMax: report.latency, samples: 1,
            busy: report.busy, metrics: metrics, compileSeconds: compiled.compileSeconds,
            measureSeconds: (ContinuousClock.now - start).seconds)
    }
}

extension Duration {
    /// The duration in seconds.
    public var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) * 1e-18
    }
}
