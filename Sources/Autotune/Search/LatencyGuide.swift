import CostModel
import KernelSpace

/// Predicts a configuration's latency (ns), or nil when it cannot run (over a hardware limit); a
/// guide that can learn also refits itself to measured latencies.
///
/// ```swift
/// let guide = LatencyGuide.performanceModel(LinearTemplate(), problem, .trn2)
/// let predicted = guide.predict(configuration)
/// let calibrated = guide.refit?([(configuration, 61_500)])
/// ```
public struct LatencyGuide: Sendable {
    /// One measured latency (ns) of a configuration.
    public typealias Measured = (configuration: Configuration, latency: Double)

    /// The prediction.
    public let predict: @Sendable (Configuration) -> Double?
    /// A guide fitted to measured latencies, or nil when this guide cannot be refitted.
    public let refit: (@Sendable ([Measured]) -> LatencyGuide)?

    /// A guide from any predictor, refittable when `refit` is given.
    public init(
        refit: (@Sendable ([Measured]) -> LatencyGuide)? = nil,
        _ predict: @escaping @Sendable (Configuration) -> Double?
    ) {
        self.predict = predict
        self.refit = refit
    }
}

extension LatencyGuide {
    /// The performance model's latency of a configuration on `target`; nil over a hardware limit.
    /// It refits by calibrating `target`'s inferred constants to the measurements (the fit
    /// `nkitune calibrate` makes), so a search against hardware ranks with the corrected model.
    public static func performanceModel(_ template: any KernelTemplate, _ problem: Problem, _ target: Target)
        -> LatencyGuide
    {
        calibrated(template, problem, base: target, to: target)
    }

    /// The model of `target`, refitting from `base` (so repeated refits never drift the bounds).
    private static func calibrated(
        _ template: any KernelTemplate, _ problem: Problem, base: Target, to target: Target
    ) -> LatencyGuide {
        LatencyGuide(
            refit: { measured in
                let samples = measured.map {
                    CalibrationSample(
                        label: $0.configuration.key,
                        program: template.program(for: problem, configuration: $0.configuration), measured: $0.latency)
                }
                let fitted = CalibrationFit.calibrated(samples, base: base, constants: Array(base.inferred))
                return calibrated(template, problem, base: base, to: fitted)
            }
        ) { configuration in
            let program = template.program(for: problem, configuration: configuration)
            guard ResourceCheck.violation(of: program, limits: target.limits) == nil else { return nil }
            return Timeline.simulate(program, on: target).latency
        }
    }
}
