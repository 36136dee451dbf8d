import Foundation
import KernelSpace

/// One measured latency the performance model should reproduce.
public struct CalibrationSample: Sendable {
    /// What the row is, for reports (a configuration key, or a published row's name).
    public var label: String
    /// The program that was measured.
    public var program: KernelProgram
    /// The measured latency (ns).
    public var measured: Double

    /// Creates a value with every field given.
    public init(label: String, program: KernelProgram, measured: Double) {
        self.label = label
        self.program = program
        self.measured = measured
    }
}

/// How far predictions are from measurements: errors are log(predicted / measured).
public struct CalibrationError: Sendable, Equatable {
    /// Root mean square of the log errors.
    public var rmsLog: Double
    /// Median of |predicted / measured - 1|.
    public var medianRelative: Double
    /// Largest |predicted / measured - 1|.
    public var maxRelative: Double

    /// Summarises log errors (empty gives zeros).
    public init(logErrors: [Double]) {
        guard !logErrors.isEmpty else {
            (rmsLog, medianRelative, maxRelative) = (0, 0, 0)
            return
        }
        rmsLog = (logErrors.reduce(0) { $0 + $1 * $1 } / Double(logErrors.count)).squareRoot()
        let relative = logErrors.map { abs(exp($0) - 1) }.sorted()
        medianRelative =
            relative.count % 2 == 1
            ? relative[relative.count / 2] : (relative[relative.count / 2 - 1] + relative[relative.count / 2]) / 2
        maxRelative = relative.last!
    }
}

/// A fit of a target's constants to measured latencies: robust least squares on log latency
/// (soft-L1 loss, so a few wild measurements cannot drag the fit), each constant bounded to its
/// plausible range, solved by a bounded compass search (the model is a simulator: no gradients).
/// Held-out error comes from leave-one-out for up to ``leaveOneOutLimit`` samples, else from
/// ``folds``-fold cross-validation; either refits from scratch without the held-out samples.
///
/// ```swift
/// let fit = CalibrationFit.fit(samples, base: .trn2, constants: [.dmaQueueOverlap])
/// print(fit.values, fit.after.rmsLog, fit.heldOut.rmsLog)
/// ```
public struct CalibrationFit: Sendable {
    /// Largest sample count whose held-out error is leave-one-out.
    public static let leaveOneOutLimit = 40
    /// Folds of the cross-validation used above ``leaveOneOutLimit`` samples.
    public static let folds = 10

    /// The target the fit started from.
    public var base: Target
    /// The fitted constants' values.
    public var values: [TargetConstant: Double]
    /// Error of the uncalibrated target on every sample.
    public var before: CalibrationError
    /// Error of the fitted target on every sample it was fitted to.
    public var after: CalibrationError
    /// Error on held-out samples, each predicted by a fit that never saw it.
    public var heldOut: CalibrationError
    /// `leave-one-out` or `10-fold cross-validation`.
    public var heldOutMethod: String
    /// Per sample: label, measured, uncalibrated and calibrated prediction (ns).
    public var rows: [(label: String, measured: Double, before: Double, after: Double)]
    /// Model evaluations of the whole sample set the search spent (the main fit only).
    public var evaluations: Int

    /// The calibrated target.
    public var target: Target { base.applying(values) }

    /// Fits `constants` of `base` to `samples`.
    public static func fit(_ samples: [CalibrationSample], base: Target, constants: [TargetConstant])
        -> CalibrationFit
    {
        let constants = constants.filter { $0.exists(on: base) }.sorted()
        let (values, evaluations) = search(samples, base: base, constants: constants)
        let fitted = base.applying(values)
        let beforeTimes = samples.map { predict($0.program, base) }
        let afterTimes = samples.map { predict($0.program, fitted) }
        let measured = samples.map(\.measured)

        var heldOutErrors: [Double] = []
        let method: String
        if samples.count <= leaveOneOutLimit {
            method = "leave-one-out"
            for index in samples.indices where samples.count > 1 {
                var rest = samples
                rest.remove(at: index)
                let held = base.applying(search(rest, base: base, constants: constants).values)
                heldOutErrors.append(log(predict(samples[index].program, held) / samples[index].measured))
            }
        } else {
            method = "\(folds)-fold cross-validation"
            for fold in 0..<folds {
                let training = samples.indices.filter { $0 % folds != fold }.map { samples[$0] }
                let held = base.applying(search(training, base: base, constants: constants).values)
                for index in samples.indices where index % folds == fold {
                    heldOutErrors.append(log(predict(samples[index].program, held) / samples[index].measured))
                }
            }
        }
        return CalibrationFit(
            base: base, values: values,
            before: CalibrationError(logErrors: zip(beforeTimes, measured).map { log($0 / $1) }),
            after: CalibrationError(logErrors: zip(afterTimes, measured).map { log($0 / $1) }),
            heldOut: CalibrationError(logErrors: heldOutErrors), heldOutMethod: method,
            rows: samples.indices.map { (samples[$0].label, measured[$0], beforeTimes[$0], afterTimes[$0]) },
            evaluations: evaluations)
    }

    /// `base` with `constants` fitted to `samples`, without the held-out error (a search that
    /// calibrates as it goes refits often and needs only the target).
    public static func calibrated(_ samples: [CalibrationSample], base: Target, constants: [TargetConstant])
        -> Target
    {
        base.applying(search(samples, base: base, constants: constants.filter { $0.exists(on: base) }.sorted()).values)
    }

    private static func predict(_ program: KernelProgram, _ target: Target) -> Double {
        Timeline.simulate(program, on: target).latency
    }

    /// Soft-L1 loss of log errors with a scale of 10%: quadratic below, linear above. The samples
    /// are simulated on all cores, each writing its own element of `terms`.
    private static func loss(_ samples: [CalibrationSample], _ target: Target) -> Double {
        let scale = 0.1
        nonisolated(unsafe) let terms = UnsafeMutableBufferPointer<Double>.allocate(capacity: samples.count)
        defer { terms.deallocate() }
        DispatchQueue.concurrentPerform(iterations: samples.count) { index in
            let error = log(predict(samples[index].program, target) / samples[index].measured) / scale
            terms[index] = 2 * ((1 + error * error).squareRoot() - 1)
        }
        return terms.reduce(0, +)
    }

    /// Bounded compass search over the constants, each mapped onto [0, 1] (on a log scale where
    /// ratios matter); steps halve when no move helps, down to 1/512 of a range.
    private static func search(_ samples: [CalibrationSample], base: Target, constants: [TargetConstant])
        -> (values: [TargetConstant: Double], evaluations: Int)
    {
        guard !constants.isEmpty, !samples.isEmpty else { return ([:], 0) }
        func unit(_ constant: TargetConstant, _ value: Double) -> Double {
            let range = constant.range(on: base)
            let (low, high, x) =
                constant.isLogScale
                ? (log(range.lowerBound), log(range.upperBound), log(value))
                : (range.lowerBound, range.upperBound, value)
            return min(1, max(0, (x - low) / (high - low)))
        }
        func value(_ constant: TargetConstant, _ unit: Double) -> Double {
            let range = constant.range(on: base)
            let raw =
                constant.isLogScale
                ? exp(log(range.lowerBound) + unit * (log(range.upperBound) - log(range.lowerBound)))
                : range.lowerBound + unit * (range.upperBound - range.lowerBound)
            return constant.isInteger ? raw.rounded() : raw
        }
        func values(_ point: [Double]) -> [TargetConstant: Double] {
            Dictionary(uniqueKeysWithValues: zip(constants, point).map { ($0, value($0, $1)) })
        }
        // Start from the best of the documented values and a Halton design over the box, so a
        // fit is not trapped near the documented values when the truth is far from them.
        var point = constants.map { unit($0, $0.value(on: base)) }
        var best = loss(samples, base.applying(values(point)))
        var evaluations = 1
        for index in 1...(8 * constants.count) {
            let trial = constants.indices.map { halton(index, base: primes[$0 % primes.count]) }
            let trialLoss = loss(samples, base.applying(values(trial)))
            evaluations += 1
            if trialLoss < best { (point, best) = (trial, trialLoss) }
        }
        var step = 0.25
        while step >= 1.0 / 512 && evaluations < 800 {
            var improved = false
            for (index, constant) in constants.enumerated() {
                for direction in [1.0, -1.0] {
                    var trial = point
                    trial[index] = min(1, max(0, point[index] + direction * step))
                    if value(constant, trial[index]) == value(constant, point[index]) { continue }
                    let trialLoss = loss(samples, base.applying(values(trial)))
                    evaluations += 1
                    if trialLoss < best - 1e-12 {
                        (point, best, improved) = (trial, trialLoss, true)
                        break
                    }
                }
            }
            if !improved { step /= 2 }
        }
        return (values(point), evaluations)
    }

    private static let primes = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31]

    /// The `index`th element of the van der Corput sequence in `base`: a low-discrepancy point in [0, 1).
    private static func halton(_ index: Int, base: Int) -> Double {
        var (result, fraction, rest) = (0.0, 1.0 / Double(base), index)
        while rest > 0 {
            result += fraction * Double(rest % base)
            rest /= base
            fraction /= Double(base)
        }
        return result
    }
}
