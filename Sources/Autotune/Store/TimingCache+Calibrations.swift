import CostModel
import Foundation
import GRDB

/// A calibrated target as `nkitune calibrate` stores it: the constants it fitted and how well.
public struct StoredCalibration: Sendable, Equatable {
    /// The name it is asked for by (`--calibration NAME`).
    public var name: String
    /// The built-in target it calibrates.
    public var target: String
    /// Fitted constants.
    public var values: [TargetConstant: Double]
    /// What it was fitted to, for people (`312 neuron rows`, `published rows`).
    public var source: String
    /// Samples fitted.
    public var samples: Int
    /// RMS log error before, after, and held out.
    public var rmsBefore: Double
    /// RMS log error of the fitted target on its samples.
    public var rmsAfter: Double
    /// RMS log error on held-out samples.
    public var rmsHeldOut: Double
    /// When it was fitted (ISO 8601, UTC).
    public var fittedAt: String

    /// Creates a value with every field given.
    public init(
        name: String, target: String, values: [TargetConstant: Double], source: String, samples: Int,
        rmsBefore: Double, rmsAfter: Double, rmsHeldOut: Double, fittedAt: String
    ) {
        self.name = name
        self.target = target
        self.values = values
        self.source = source
        self.samples = samples
        self.rmsBefore = rmsBefore
        self.rmsAfter = rmsAfter
        self.rmsHeldOut = rmsHeldOut
        self.fittedAt = fittedAt
    }

    /// The constants as `name=value` pairs in a fixed order, e.g. `dma_queue_overlap=1.5`.
    public var valuesKey: String {
        values.keys.sorted().map { "\($0.rawValue)=\(String(format: "%.6g", values[$0]!))" }.joined(separator: ",")
    }

    /// The built-in target with the fitted constants.
    public func apply(to target: Target) -> Target { target.applying(values) }
}

extension TimingCache {
    /// The table of calibrated targets (schema 7).
    static func createCalibrationTable(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE IF NOT EXISTS calibration (
                    name TEXT PRIMARY KEY,
                    target TEXT NOT NULL,
                    constants TEXT NOT NULL,
                    source TEXT NOT NULL,
                    samples INTEGER NOT NULL,
                    rms_before REAL NOT NULL,
                    rms_after REAL NOT NULL,
                    rms_held_out REAL NOT NULL,
                    fitted_at TEXT NOT NULL
                ) WITHOUT ROWID;
                """)
    }

    /// Stores a calibration, replacing one of the same name.
    public func store(_ calibration: StoredCalibration) throws(AutotuneError) {
        let constants = Dictionary(uniqueKeysWithValues: calibration.values.map { ($0.key.rawValue, $0.value) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: (try? encoder.encode(constants)) ?? Data("{}".utf8), as: UTF8.self)
        try write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO calibration
                        (name, target, constants, source, samples, rms_before, rms_after, rms_held_out, fitted_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    calibration.name, calibration.target, json, calibration.source, calibration.samples,
                    calibration.rmsBefore, calibration.rmsAfter, calibration.rmsHeldOut, calibration.fittedAt,
                ])
        }
    }

    /// Every stored calibration, by name.
    public func calibrations() throws(AutotuneError) -> [StoredCalibration] {
        let rows = try read { db in
            try db.tableExists("calibration")
                ? Row.fetchAll(db, sql: "SELECT * FROM calibration ORDER BY name") : []
        }
        var found: [StoredCalibration] = []
        for row in rows {
            let name: String = row["name"]
            let text: String = row["constants"]
            guard let object = try? JSONDecoder().decode([String: Double].self, from: Data(text.utf8)) else {
                throw AutotuneError(.cache, "cache \(path): calibration \(name) has unreadable constants '\(text)'")
            }
            var values: [TargetConstant: Double] = [:]
            for (key, value) in object {
                guard let constant = TargetConstant(rawValue: key) else {
                    throw AutotuneError(.cache, "cache \(path): calibration \(name) has an unknown constant '\(key)'")
                }
                values[constant] = value
            }
            found.append(
                StoredCalibration(
                    name: name, target: row["target"], values: values, source: row["source"], samples: row["samples"],
                    rmsBefore: row["rms_before"], rmsAfter: row["rms_after"], rmsHeldOut: row["rms_held_out"],
                    fittedAt: row["fitted_at"]))
        }
        return found
    }

    /// The calibration called `name` for `target`, or a one-line error naming what was found instead.
    public func calibration(named name: String, for target: String) throws(AutotuneError) -> StoredCalibration {
        let all = try calibrations()
        guard let found = all.first(where: { $0.name == name }) else {
            let known = all.isEmpty ? "none stored; run nkitune calibrate" : all.map(\.name).joined(separator: ", ")
            throw AutotuneError(.cache, "no calibration '\(name)' in \(path) (\(known))")
        }
        guard found.target == target else {
            throw AutotuneError(.cache, "calibration '\(name)' is for \(found.target), not \(target)")
        }
        return found
    }

    /// Every successful measurement of `target` by `backend`, over all kernels and problems.
    public func measuredRows(target: String, backend: String) throws(AutotuneError) -> [(
        kernel: String, problem: String, configuration: String, toolchain: String, latency: Double
    )] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT kernel, problem, config, toolchain, latency_ns FROM measurement
                    WHERE target = ? AND backend = ? AND status = 'ok' AND latency_ns > 0
                        AND (check_status IS NULL OR check_status = 'passed')
                    ORDER BY kernel, problem, latency_ns, config
                    """,
                arguments: [target, backend]
            ).map { ($0["kernel"], $0["problem"], $0["config"], $0["toolchain"], $0["latency_ns"]) }
        }
    }
}
