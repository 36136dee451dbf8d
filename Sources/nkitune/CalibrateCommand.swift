import ArgumentParser
import Autotune
import CostModel
import Foundation

struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Fit the performance model's inferred constants to measured latencies.",
        discussion: """
            Reads every successful measurement of the target by a hardware backend (--measured-by, \
            default neuron) from the cache, rebuilds each variant's program, and fits the constants the \
            target description marks inferred [I] (with --all, the documented [D] ones too) by robust \
            least squares on log latency, each bounded to a plausible range. Prints the constants, the \
            error before and after, and the error on held-out rows (leave-one-out up to \
            \(CalibrationFit.leaveOneOutLimit) rows, else \(CalibrationFit.folds)-fold \
            cross-validation), then stores the calibrated target in the cache under --name. Use it \
            with `--calibration NAME` on tune, tune-model, best, emit, explain and export.

            --published fits to the published hardware measurements of the target instead \
            (shared/reference/calibration.md).

            Example: nkitune calibrate --target trn2 --measured-by neuron --name trn2-lab
            """)

    @Option(help: "Target chip whose constants are fitted.")
    var target: TargetName = .trn2

    @Option(help: "Timing database holding the measurements; the calibration is stored there too.")
    var cache: String = "cache/nkitune.sqlite"

    @Option(help: "Backend whose measurements are fitted.")
    var measuredBy: String = "neuron"

    @Flag(help: "Fit to the published hardware measurements of the target instead of the cache's.")
    var published = false

    @Flag(help: "Fit the documented constants too, not only the inferred ones.")
    var all = false

    @Option(help: "Most measurements fitted, spread over kernels, problems and latencies (1 to 5000).")
    var maxRows: Int = 200

    @Option(help: "Name the calibration is stored under (default: <target>-<measured-by>, or <target>-published).")
    var name: String?

    @Flag(help: "Print the fit without storing it.")
    var dryRun = false

    @Option(help: "Seconds to wait for another process's lock on the cache before giving up.")
    var lockTimeout: Double = 30

    func validate() throws {
        guard (1...5000).contains(maxRows) else {
            throw ValidationError("--max-rows \(maxRows) must be between 1 and 5000")
        }
        if let name, !Self.isValidName(name) {
            throw ValidationError(
                "--name '\(name)' must be 1 to 64 letters, digits, '.', '_' or '-'")
        }
        guard lockTimeout >= 0 && lockTimeout <= 86_400 else {
            throw ValidationError("--lock-timeout \(lockTimeout) must be between 0 and 86400 seconds")
        }
    }

    /// Calibration names are short identifiers.
    static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.count)
            && name.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0))
            }
    }

    func run() throws {
        let base = target.target
        let constants = TargetConstant.allCases.filter {
            $0.exists(on: base) && (all || base.inferred.contains($0))
        }
        let samples: [CalibrationSample]
        let source: String
        let storeName = name ?? "\(base.name)-\(published ? "published" : measuredBy)"
        guard Self.isValidName(storeName) else {
            throw CLIError("--measured-by '\(measuredBy)' makes an invalid calibration name; give --name")
        }
        if published {
            samples = try CalibrationCase.all.filter { $0.target == base }.map { try $0.sample() }
            source = "\(samples.count) published rows"
            guard !samples.isEmpty else { throw CLIError("no published measurements of \(base.name)") }
        } else {
            guard FileManager.default.fileExists(atPath: cache) else { throw CLIError("no cache at \(cache)") }
            let reading = try TimingCache(path: cache, mode: .readOnly, lockTimeout: lockTimeout) {
                Output.error($0 + "\n")
            }
            let loaded = try CalibrationSamples.load(
                from: reading, target: base, backend: measuredBy, templates: defaultKernels, limit: maxRows)
            for (reason, count) in loaded.skipped.sorted(by: { $0.key < $1.key }) {
                Output.error("skipped \(count) measurement(s): \(reason)\n")
            }
            guard !loaded.samples.isEmpty else {
                throw CLIError(
                    "no successful \(measuredBy) measurements of \(base.name) in \(cache) to fit "
                        + "(\(loaded.found) found); measure some with --backend \(measuredBy), or use --published")
            }
            samples = loaded.samples
            source = "\(samples.count) of \(loaded.found) \(measuredBy) rows"
            Output.line("toolchains: " + loaded.toolchains.sorted().joined(separator: "; "))
        }
        let heldOut =
            samples.count <= CalibrationFit.leaveOneOutLimit
            ? "leave-one-out" : "\(CalibrationFit.folds)-fold cross-validation"
        Output.error(
            "fitting \(constants.count) constant(s) of \(base.name) to \(source), held-out error by \(heldOut)...\n")
        let fit = CalibrationFit.fit(samples, base: base, constants: constants)
        report(fit, constants: constants)
        if dryRun {
            Output.line("dry run: nothing stored")
            return
        }
        let writing = try TimingCache(path: cache, mode: .readWrite, lockTimeout: lockTimeout) {
            Output.error($0 + "\n")
        }
        try writing.store(
            StoredCalibration(
                name: storeName, target: base.name, values: fit.values, source: source, samples: samples.count,
                rmsBefore: fit.before.rmsLog, rmsAfter: fit.after.rmsLog, rmsHeldOut: fit.heldOut.rmsLog,
                fittedAt: ISO8601DateFormatter().string(from: Date())))
        Output.line(
            "stored as '\(storeName)' in \(cache); use it with --target \(base.name) --calibration \(storeName)")
    }

    private func report(_ fit: CalibrationFit, constants: [TargetConstant]) {
        let base = fit.base
        Output.line(
            TableRenderer.render(
                headers: ["constant", "tag", "documented", "fitted", "range"],
                rows: constants.map { constant in
                    let range = constant.range(on: base)
                    return [
                        constant.rawValue, base.inferred.contains(constant) ? "[I]" : "[D]",
                        Self.number(constant.value(on: base)), Self.number(fit.values[constant] ?? .nan),
                        "\(Self.number(range.lowerBound))-\(Self.number(range.upperBound))",
                    ]
                }, rightAligned: [2, 3]))
        if fit.rows.count <= CalibrationFit.leaveOneOutLimit {
            Output.line("")
            Output.line(
                TableRenderer.render(
                    headers: ["measurement", "measured", "uncalibrated", "ratio", "calibrated", "ratio"],
                    rows: fit.rows.map { row in
                        [
                            row.label, formatLatency(row.measured), formatLatency(row.before),
                            String(format: "%.3f", row.before / row.measured), formatLatency(row.after),
                            String(format: "%.3f", row.after / row.measured),
                        ]
                    }, rightAligned: [1, 2, 3, 4, 5]))
        }
        Output.line("")
        Output.line(
            TableRenderer.render(
                headers: ["error", "rms log", "median", "max"],
                rows: [
                    ("uncalibrated", fit.before), ("calibrated (fitted rows)", fit.after),
                    ("calibrated (\(fit.heldOutMethod))", fit.heldOut),
                ].map { label, error in
                    [
                        label, String(format: "%.3f", error.rmsLog),
                        String(format: "%.1f%%", error.medianRelative * 100),
                        String(format: "%.1f%%", error.maxRelative * 100),
                    ]
                }, rightAligned: [1, 2, 3]))
    }

    private static func number(_ value: Double) -> String { String(format: "%.4g", value) }
}
