import Foundation
import GRDB

/// Why the cache could not be used; the message names the path and what went wrong.
public struct CacheError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    public init(message: String) { self.message = message }
}

/// What identifies one timing: the variant and what timed it.
public struct CacheScope: Hashable, Sendable {
    public var kernel: String
    public var problem: String
    public var target: String
    public var backend: String
    public var toolchain: String

    public init(kernel: String, problem: String, target: String, backend: String, toolchain: String) {
        self.kernel = kernel
        self.problem = problem
        self.target = target
        self.backend = backend
        self.toolchain = toolchain
    }
}

/// One stored evaluation.
public struct CachedMeasurement: Sendable, Equatable {
    public var configuration: String
    public var measurement: Measurement
    /// `passed` or `failed` once numerically checked; nil before.
    public var check: String?
    /// Relative error of the check.
    public var checkError: Double?
    /// The configuration exactness is judged against, and whether this one is bit-exact to it.
    public var reference: String?
    public var bitExact: Bool?
}

/// Every evaluation ever made, in SQLite (GRDB `DatabasePool`, WAL mode). A row per variant, keyed
/// by kernel, problem, configuration, target, backend and toolchain; nothing in it is measured again.
///
/// ```swift
/// let cache = try TimingCache(path: "cache/nkitune.sqlite")
/// let done = try cache.configurations(in: scope)
/// ```
public final class TimingCache: Sendable {
    private let pool: DatabasePool
    /// The database file.
    public let path: String

    /// Opens (creating if needed) the cache at `path`. A file that is not an nkitune cache is left
    /// exactly as it was and reported.
    public init(path: String) throws(CacheError) {
        self.path = path
        let manager = FileManager.default
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty && !manager.fileExists(atPath: directory) {
            do {
                try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw CacheError(message: "cannot create cache directory \(directory): \(Self.reason(error))")
            }
        }
        if manager.fileExists(atPath: path) {
            try Self.requireSQLite(path)
        } else if !manager.isWritableFile(atPath: directory.isEmpty ? "." : directory) {
            throw CacheError(message: "cannot create cache \(path): directory is not writable")
        }
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(30)
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw CacheError(message: "cannot open cache \(path): \(Self.reason(error))")
        }
    }

    private static func reason(_ error: any Error) -> String {
        if let error = error as? DatabaseError { return error.message ?? "\(error.resultCode)" }
        return (error as NSError).localizedDescription
    }

    /// Refuses a file that is not SQLite before SQLite (or a WAL switch) can touch it.
    private static func requireSQLite(_ path: String) throws(CacheError) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CacheError(message: "cannot read cache \(path)")
        }
        defer { try? handle.close() }
        let header = (try? handle.read(upToCount: 16)) ?? Data()
        if header.isEmpty { return }
        guard header.starts(with: Array("SQLite format 3".utf8)) else {
            throw CacheError(message: "cache \(path) is not an SQLite database; it was left untouched")
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE measurement (
                        kernel TEXT NOT NULL,
                        problem TEXT NOT NULL,
                        config TEXT NOT NULL,
                        target TEXT NOT NULL,
                        backend TEXT NOT NULL,
                        toolchain TEXT NOT NULL,
                        status TEXT NOT NULL CHECK (status IN ('ok', 'invalid', 'failed')),
                        reason TEXT,
                        latency_ns REAL,
                        latency_min_ns REAL,
                        latency_max_ns REAL,
                        samples INTEGER NOT NULL DEFAULT 0,
                        metrics TEXT NOT NULL DEFAULT '{}',
                        check_status TEXT CHECK (check_status IN ('passed', 'failed')),
                        check_error REAL,
                        compile_s REAL NOT NULL DEFAULT 0,
                        measure_s REAL NOT NULL DEFAULT 0,
                        measured_at TEXT NOT NULL,
                        PRIMARY KEY (kernel, problem, config, target, backend, toolchain)
                    ) WITHOUT ROWID;
                    CREATE INDEX measurement_best
                        ON measurement (kernel, problem, target, backend, toolchain, status, latency_ns);
                    """)
        }
        migrator.registerMigration("v2-bit-exact") { db in
            try db.execute(
                sql: """
                    ALTER TABLE measurement ADD COLUMN reference_config TEXT;
                    ALTER TABLE measurement ADD COLUMN bit_exact INTEGER;
                    """)
        }
        return migrator
    }

    /// Configurations already evaluated in a scope, whatever their status.
    public func configurations(in scope: CacheScope) throws(CacheError) -> Set<String> {
        try read { db in
            try Set(
                String.fetchAll(
                    db,
                    sql: """
                        SELECT config FROM measurement
                        WHERE kernel = ? AND problem = ? AND target = ? AND backend = ? AND toolchain = ?
                        """,
                    arguments: [scope.kernel, scope.problem, scope.target, scope.backend, scope.toolchain]))
        }
    }

    /// Stores evaluations in one transaction; an existing row for the same key is replaced. `bitExact`
    /// says, per configuration, whether it computes bit-identical outputs to `reference`.
    public func insert(
        _ rows: [(configuration: String, measurement: Measurement)], in scope: CacheScope, reference: String? = nil,
        bitExact: (String) -> Bool? = { _ in nil }
    ) throws(CacheError) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        try write { db in
            let statement = try db.cachedStatement(
                sql: """
                    INSERT OR REPLACE INTO measurement
                    (kernel, problem, config, target, backend, toolchain, status, reason, latency_ns,
                     latency_min_ns, latency_max_ns, samples, metrics, compile_s, measure_s, measured_at,
                     reference_config, bit_exact)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            for (configuration, measurement) in rows {
                let metrics = Self.encode(measurement.metrics)
                try statement.execute(arguments: [
                    scope.kernel, scope.problem, configuration, scope.target, scope.backend, scope.toolchain,
                    measurement.status.rawValue, measurement.reason, measurement.latency, measurement.latencyMin,
                    measurement.latencyMax, measurement.samples, metrics, measurement.compileSeconds,
                    measurement.measureSeconds, stamp, reference, bitExact(configuration),
                ])
            }
        }
    }

    /// Records the numeric check of one variant; a failed check marks the variant failed.
    public func recordCheck(
        configuration: String, in scope: CacheScope, passed: Bool, error: Double?, reason: String?
    ) throws(CacheError) {
        try recordVerdict(
            configuration: configuration, in: scope,
            setting: [("check_status", passed ? "passed" : "failed"), ("check_error", error)],
            passed: passed, reason: reason)
    }

    /// Writes verdict columns of one variant; a verdict that did not pass marks the variant failed
    /// with `reason`. Column names are this file's constants, never outside text.
    private func recordVerdict(
        configuration: String, in scope: CacheScope, setting columns: [(String, (any DatabaseValueConvertible)?)],
        passed: Bool, reason: String?
    ) throws(CacheError) {
        let assignments = columns.map { "\($0.0) = ?" }.joined(separator: ", ")
        var arguments: [(any DatabaseValueConvertible)?] = columns.map(\.1)
        arguments += [passed, passed, reason, scope.kernel, scope.problem, configuration, scope.target, scope.backend]
        arguments.append(scope.toolchain)
        try write { db in
            try db.execute(
                sql: """
                    UPDATE measurement SET \(assignments),
                        status = CASE WHEN ? THEN status ELSE 'failed' END,
                        reason = CASE WHEN ? THEN reason ELSE ? END
                    WHERE kernel = ? AND problem = ? AND config = ? AND target = ? AND backend = ? AND toolchain = ?
                    """,
                arguments: StatementArguments(arguments))
        }
    }

    /// The fastest `ok` variants of a scope, fastest first (ties broken by configuration key); with
    /// `exactTo`, only those recorded as bit-exact to that reference configuration.
    public func best(in scope: CacheScope, limit: Int, exactTo reference: String? = nil) throws(CacheError)
        -> [CachedMeasurement]
    {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM measurement
                    WHERE kernel = ? AND problem = ? AND target = ? AND backend = ? AND toolchain = ?
                      AND status = 'ok' AND (? IS NULL OR (reference_config = ? AND bit_exact = 1))
                    ORDER BY latency_ns, config LIMIT ?
                    """,
                arguments: [
                    scope.kernel, scope.problem, scope.target, scope.backend, scope.toolchain, reference, reference,
                    limit,
                ]
            ).map(Self.decode)
        }
    }

    /// Records the interpreter's verdict on bit-exactness; a variant that is not bit-exact to the
    /// reference it was claimed to match is marked failed.
    public func recordBitExact(
        configuration: String, in scope: CacheScope, reference: String, exact: Bool, reason: String?
    ) throws(CacheError) {
        try recordVerdict(
            configuration: configuration, in: scope, setting: [("bit_exact", exact), ("reference_config", reference)],
            passed: exact, reason: reason)
    }

    /// One stored evaluation.
    public func measurement(configuration: String, in scope: CacheScope) throws(CacheError) -> CachedMeasurement? {
        try read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT * FROM measurement
                    WHERE kernel = ? AND problem = ? AND config = ? AND target = ? AND backend = ? AND toolchain = ?
                    """,
                arguments: [
                    scope.kernel, scope.problem, configuration, scope.target, scope.backend, scope.toolchain,
                ]
            ).map(Self.decode)
        }
    }

    /// Counts of rows per status in a scope.
    public func counts(in scope: CacheScope) throws(CacheError) -> [VariantStatus: Int] {
        try read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT status, COUNT(*) AS n FROM measurement
                    WHERE kernel = ? AND problem = ? AND target = ? AND backend = ? AND toolchain = ?
                    GROUP BY status
                    """,
                arguments: [scope.kernel, scope.problem, scope.target, scope.backend, scope.toolchain])
            var counts: [VariantStatus: Int] = [:]
            for row in rows {
                if let status = VariantStatus(rawValue: row["status"]) { counts[status] = row["n"] }
            }
            return counts
        }
    }

    private static func decode(_ row: Row) -> CachedMeasurement {
        let metricsText: String = row["metrics"] ?? "{}"
        let metrics =
            (try? JSONDecoder().decode([String: Double].self, from: Data(metricsText.utf8))) ?? [:]
        let measurement = Measurement(
            status: VariantStatus(rawValue: row["status"]) ?? .failed, reason: row["reason"],
            latency: row["latency_ns"],
            latencyMin: row["latency_min_ns"], latencyMax: row["latency_max_ns"], samples: row["samples"],
            metrics: metrics, compileSeconds: row["compile_s"], measureSeconds: row["measure_s"])
        return CachedMeasurement(
            configuration: row["config"], measurement: measurement, check: row["check_status"],
            checkError: row["check_error"], reference: row["reference_config"], bitExact: row["bit_exact"])
    }

    private static func encode(_ metrics: [String: Double]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(metrics)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

    private func read<T>(_ body: (Database) throws -> T) throws(CacheError) -> T {
        do {
            return try pool.read(body)
        } catch {
            throw CacheError(message: "cache \(path): \(Self.reason(error))")
        }
    }

    private func write<T>(_ body: (Database) throws -> T) throws(CacheError) -> T {
        do {
            return try pool.write(body)
        } catch {
            throw CacheError(message: "cache \(path): \(Self.reason(error))")
        }
    }
}
