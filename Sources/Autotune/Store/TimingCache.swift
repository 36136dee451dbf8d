import CostModel
import Foundation
import GRDB
import KernelSpace

/// What identifies one timing: the variant and what timed it.
public struct CacheScope: Hashable, Sendable {
    /// The template id.
    public var kernel: String
    /// The problem's canonical key.
    public var problem: String
    /// The target chip.
    public var target: String
    /// The backend that timed it.
    public var backend: String
    /// What produced the timings (compiler and runtime, or the model version).
    public var toolchain: String

    /// Creates a value with every field given.
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
    /// The configuration's canonical key.
    public var configuration: String
    /// What the backend measured (with the status a failed check set).
    public var measurement: Measurement
    /// The interpreter's verdict; nil when the variant was never checked.
    public var check: CheckStatus?
    /// Relative error of the check.
    public var checkError: Double?
    /// The configuration exactness is judged against, and whether this one is declared bit-exact to
    /// it (it agrees on every numerics-changing parameter).
    public var reference: String?
    /// Declared bit-exact to ``reference``.
    public var bitExact: Bool?
    /// Whether the interpreter found it bit-identical to ``reference``; nil when not compared.
    public var exactVerdict: ExactVerdict?
    /// The ``KernelSpace/KernelProgram/digest`` of the program that was measured; nil for rows
    /// stored before digests were kept (they are measured again when proposed).
    public var programDigest: String?
    /// When it was measured (ISO 8601, UTC).
    public var measuredAt: String?

}

extension CachedMeasurement {
    /// A row that was never checked, as a tool that writes caches of its own makes it.
    public init(configuration: String, measurement: Measurement) {
        self.init(
            configuration: configuration, measurement: measurement, check: nil, checkError: nil, reference: nil,
            bitExact: nil, exactVerdict: nil, programDigest: nil, measuredAt: nil)
    }
}

/// Every evaluation ever made, in SQLite (GRDB, WAL mode). A row per variant, keyed by kernel,
/// problem, configuration, target, backend and toolchain; nothing in it is measured again.
///
/// A file is judged before SQLite touches it: a file that is not an nkitune cache, or one from a
/// newer schema, is refused and left exactly as it was. Opened ``Mode/readOnly``, nothing is
/// written, so a read-only file can be read and its header stays as it was.
///
/// ```swift
/// let cache = try TimingCache(path: "cache/nkitune.sqlite")
/// let best = try cache.best(in: scope, limit: 5)
/// ```
public final class TimingCache: Sendable {
    /// How a cache is opened.
    public enum Mode: Sendable {
        /// Created if missing and migrated to the current schema.
        case readWrite
        /// Never written; the file must exist.
        case readOnly
    }

    let database: any DatabaseWriter
    /// The database file.
    public let path: String
    /// How the cache was opened.
    public let mode: Mode

    /// Opens the cache at `path` (creating it when `mode` is ``Mode/readWrite``). When another
    /// process holds the write lock, `onWait` is told once what is waited for, and the open or
    /// write gives up after `lockTimeout` seconds with an error saying so.
    public init(
        path: String, mode: Mode = .readWrite, lockTimeout: Double = 30,
        onWait: (@Sendable (String) -> Void)? = nil
    ) throws(AutotuneError) {
        self.path = path
        self.mode = mode
        self.lockTimeout = lockTimeout
        let started = Date()
        while true {
            do {
                database = try Self.open(path, mode: mode, lockTimeout: lockTimeout, onWait: onWait)
                return
            } catch let error as DatabaseError where Self.isTransient(error) {
                // SQLite reports a lock taken while another process switches a new file to WAL
                // mode at once, without waiting; the file is then judged again, as that process left it.
                guard Date().timeIntervalSince(started) < lockTimeout else {
                    throw AutotuneError(
                        .cache, "cannot open cache \(path): \(Self.reason(error, timeout: lockTimeout))")
                }
                Thread.sleep(forTimeInterval: 0.05)
            } catch let error as AutotuneError {
                throw error
            } catch {
                throw AutotuneError(.cache, "cannot open cache \(path): \(Self.reason(error, timeout: lockTimeout))")
            }
        }
    }

    /// Judges the file at `path`, then opens it (and for ``Mode/readWrite`` creates or migrates it).
    private static func open(
        _ path: String, mode: Mode, lockTimeout: Double, onWait: (@Sendable (String) -> Void)?
    ) throws -> any DatabaseWriter {
        let kind = try CacheFile.inspect(path, lockTimeout: lockTimeout)
        if mode == .readOnly && kind == .absent {
            throw AutotuneError(.cache, "no cache at \(path)")
        }
        if mode == .readWrite && kind == .absent { try prepareDirectory(of: path) }
        var configuration = Configuration()
        configuration.readonly = mode == .readOnly
        configuration.busyMode = busyMode(path: path, timeout: lockTimeout, onWait: onWait)
        if mode == .readOnly { return try DatabaseQueue(path: path, configuration: configuration) }
        let pool = try DatabasePool(path: path, configuration: configuration)
        if kind != .cache(schemaVersion: CacheFile.schemaVersion) { try migrate(pool) }
        return pool
    }

    /// Errors SQLite returns without calling the busy handler while another process sets up the
    /// same new file: a lock refused during the switch to WAL mode, or the switch itself refused.
    private static func isTransient(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
            || (error.message ?? "").contains("could not activate WAL Mode")
    }

    private let lockTimeout: Double

    private static func prepareDirectory(of path: String) throws(AutotuneError) {
        let manager = FileManager.default
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty && !manager.fileExists(atPath: directory) {
            do {
                try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw AutotuneError(.cache, "cannot create cache directory \(directory): \(reason(error))")
            }
        }
        if !manager.isWritableFile(atPath: directory.isEmpty ? "." : directory) {
            throw AutotuneError(.cache, "cannot create cache \(path): directory is not writable")
        }
    }

    /// Waits for another process's lock in short sleeps, telling `onWait` once, up to `timeout`.
    private static func busyMode(path: String, timeout: Double, onWait: (@Sendable (String) -> Void)?)
        -> Database.BusyMode
    {
        let pause = 0.02
        return .callback { tries in
            if tries == 0 {
                onWait?(
                    "cache \(path) is locked by another process; waiting up to \(Self.seconds(timeout)) for it")
            }
            guard Double(tries) * pause < timeout else { return false }
            Thread.sleep(forTimeInterval: pause)
            return true
        }
    }

    private static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : String(format: "%.1f s", value)
    }

    static func reason(_ error: any Error, timeout: Double? = nil) -> String {
        if let error = error as? DatabaseError {
            if error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED, let timeout {
                return "locked by another process; gave up after \(seconds(timeout)) (see --lock-timeout)"
            }
            return error.message ?? "\(error.resultCode)"
        }
        return (error as NSError).localizedDescription
    }

    /// Brings the schema to ``CacheFile/schemaVersion`` in one IMMEDIATE transaction, so processes
    /// opening the same new cache at once take turns and the later ones find nothing to do. A cache
    /// of schema 1 or 2 (made with GRDB's migrator) gains the columns it lacks and keeps its rows.
    private static func migrate(_ pool: DatabasePool) throws {
        try pool.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) {
                guard try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0 < CacheFile.schemaVersion else {
                    return .commit
                }
                if try !db.tableExists("measurement") {
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
                let columns = try Set(db.columns(in: "measurement").map(\.name))
                if !columns.contains("reference_config") {
                    try db.execute(sql: "ALTER TABLE measurement ADD COLUMN reference_config TEXT")
                }
                if !columns.contains("bit_exact") {
                    try db.execute(sql: "ALTER TABLE measurement ADD COLUMN bit_exact INTEGER")
                }
                for engine in Engine.allCases where !columns.contains(Self.busyColumn(engine)) {
                    try db.execute(sql: "ALTER TABLE measurement ADD COLUMN \(Self.busyColumn(engine)) REAL")
                }
                if !columns.contains("bound_engine") {
                    try db.execute(sql: "ALTER TABLE measurement ADD COLUMN bound_engine TEXT")
                }
                if !columns.contains("program_digest") {
                    try db.execute(sql: "ALTER TABLE measurement ADD COLUMN program_digest TEXT")
                }
                if !columns.contains("exact_verdict") {
                    try db.execute(
                        sql: """
                            ALTER TABLE measurement ADD COLUMN exact_verdict TEXT
                                CHECK (exact_verdict IN ('identical', 'different'))
                            """)
                }
                try createModelRunTables(db)
                try createCalibrationTable(db)
                try db.execute(
                    sql: """
                        PRAGMA application_id = \(CacheFile.applicationID);
                        PRAGMA user_version = \(CacheFile.schemaVersion);
                        """)
                return .commit
            }
        }
    }

    /// Configurations already evaluated in a scope, whatever their status.
    public func configurations(in scope: CacheScope) throws(AutotuneError) -> Set<String> {
        try read { db in
            try Set(
                String.fetchAll(
                    db, sql: "SELECT config FROM measurement WHERE \(Self.scopeClause)",
                    arguments: Self.arguments(scope)))
        }
    }

    /// The stored evaluations among `configurations` in a scope, by configuration key.
    public func measurements(of configurations: [String], in scope: CacheScope) throws(AutotuneError)
        -> [String: CachedMeasurement]
    {
        var found: [String: CachedMeasurement] = [:]
        for start in stride(from: 0, to: configurations.count, by: 500) {
            let chunk = Array(configurations[start..<min(start + 500, configurations.count)])
            let marks = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            let rows = try read { db in
                try Row.fetchAll(
                    db, sql: "SELECT * FROM measurement WHERE \(Self.scopeClause) AND config IN (\(marks))",
                    arguments: Self.arguments(scope) + StatementArguments(chunk))
            }
            for row in rows {
                let entry = Self.decode(row)
                found[entry.configuration] = entry
            }
        }
        return found
    }

    /// Stores evaluations in one transaction. A row already stored for the same key with the same
    /// program digest (another process measured it first) is kept, with its checks; a row whose
    /// program changed is replaced and its checks cleared. `bitExact` says, per configuration,
    /// whether it is declared bit-identical to `reference`; `digest` gives its program's digest.
    /// With `run`, the rows are counted toward that whole-model run's spent measurements in the
    /// same transaction, so a run killed at any moment has counted exactly what it stored.
    public func insert(
        _ rows: [(configuration: String, measurement: Measurement)], in scope: CacheScope, reference: String? = nil,
        bitExact: (String) -> Bool? = { _ in nil }, digest: (String) -> String? = { _ in nil },
        countingToward run: String? = nil
    ) throws(AutotuneError) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        try write { db in
            let statement = try db.cachedStatement(
                sql: """
                    INSERT INTO measurement
                    (kernel, problem, config, target, backend, toolchain, status, reason, latency_ns,
                     latency_min_ns, latency_max_ns, samples, metrics, compile_s, measure_s, measured_at,
                     reference_config, bit_exact, program_digest, \(Self.busyColumns), bound_engine)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (kernel, problem, config, target, backend, toolchain) DO UPDATE SET
                        status = excluded.status, reason = excluded.reason, latency_ns = excluded.latency_ns,
                        latency_min_ns = excluded.latency_min_ns, latency_max_ns = excluded.latency_max_ns,
                        samples = excluded.samples, metrics = excluded.metrics, compile_s = excluded.compile_s,
                        measure_s = excluded.measure_s, measured_at = excluded.measured_at,
                        reference_config = excluded.reference_config, bit_exact = excluded.bit_exact,
                        program_digest = excluded.program_digest, bound_engine = excluded.bound_engine,
                        \(Engine.allCases.map { "\(Self.busyColumn($0)) = excluded.\(Self.busyColumn($0))" }
                            .joined(separator: ", ")),
                        check_status = NULL, check_error = NULL,
                        exact_verdict = NULL
                    WHERE measurement.program_digest IS NOT excluded.program_digest
                    """)
            for (configuration, measurement) in rows {
                let metrics = Self.encode(measurement.metrics)
                var arguments: StatementArguments = [
                    scope.kernel, scope.problem, configuration, scope.target, scope.backend, scope.toolchain,
                    measurement.status.rawValue, measurement.reason, measurement.latency, measurement.latencyMin,
                    measurement.latencyMax, measurement.samples, metrics, measurement.compileSeconds,
                    measurement.measureSeconds, stamp, reference, bitExact(configuration), digest(configuration),
                ]
                arguments += StatementArguments(Engine.allCases.map { measurement.busy[$0] })
                arguments += [measurement.boundEngine?.rawValue]
                try statement.execute(arguments: arguments)
            }
            if let run, !rows.isEmpty { try Self.addSpending(db, run: run, measurements: rows.count, seconds: 0) }
        }
    }

    /// Records the numeric check of one variant; a failed check marks the variant failed with `reason`.
    public func recordCheck(
        configuration: String, in scope: CacheScope, status: CheckStatus, error: Double?, reason: String?
    ) throws(AutotuneError) {
        try recordVerdict(
            configuration: configuration, in: scope,
            setting: [("check_status", status.rawValue), ("check_error", error)], passed: status == .passed,
            reason: reason)
    }

    /// Records the interpreter's bit-for-bit comparison with `reference`; a variant found
    /// ``ExactVerdict/different`` is marked failed with `reason` (the first differing element).
    public func recordExactVerdict(
        configuration: String, in scope: CacheScope, reference: String, verdict: ExactVerdict, reason: String?
    ) throws(AutotuneError) {
        try recordVerdict(
            configuration: configuration, in: scope,
            setting: [("exact_verdict", verdict.rawValue), ("reference_config", reference)],
            passed: verdict == .identical, reason: reason)
    }

    /// Writes verdict columns of one variant; a verdict that did not pass marks the variant failed
    /// with `reason`. Column names are this file's constants, never outside text.
    private func recordVerdict(
        configuration: String, in scope: CacheScope, setting columns: [(String, (any DatabaseValueConvertible)?)],
        passed: Bool, reason: String?
    ) throws(AutotuneError) {
        let assignments = columns.map { "\($0.0) = ?" }.joined(separator: ", ")
        var arguments = StatementArguments(columns.map(\.1))
        arguments += [passed, passed, reason]
        arguments += Self.arguments(scope)
        arguments += [configuration]
        try write { db in
            try db.execute(
                sql: """
                    UPDATE measurement SET \(assignments),
                        status = CASE WHEN ? THEN status ELSE 'failed' END,
                        reason = CASE WHEN ? THEN reason ELSE ? END
                    WHERE \(Self.scopeClause) AND config = ?
                    """,
                arguments: arguments)
        }
    }

    /// The fastest `ok` variants of a scope, fastest first (ties broken by configuration key), from
    /// the `offset`-th on; with `exactTo`, only those declared bit-exact to that reference.
    public func best(in scope: CacheScope, limit: Int, offset: Int = 0, exactTo reference: String? = nil)
        throws(AutotuneError) -> [CachedMeasurement]
    {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM measurement
                    WHERE \(Self.scopeClause)
                      AND status = 'ok' AND (? IS NULL OR (reference_config = ? AND bit_exact = 1))
                    ORDER BY latency_ns, config LIMIT ? OFFSET ?
                    """,
                arguments: Self.arguments(scope) + [reference, reference, limit, offset]
            ).map(Self.decode)
        }
    }

    /// The fastest `ok` variants for which `isCurrent` holds (typically: the stored program digest is
    /// the program the template builds today), looking at no more than `scanLimit` rows.
    public func best(
        in scope: CacheScope, limit: Int, exactTo reference: String? = nil, scanLimit: Int = 5000,
        where isCurrent: (CachedMeasurement) -> Bool
    ) throws(AutotuneError) -> [CachedMeasurement] {
        var found: [CachedMeasurement] = []
        var offset = 0
        while found.count < limit && offset < scanLimit {
            let page = try best(in: scope, limit: 64, offset: offset, exactTo: reference)
            found += page.filter(isCurrent).prefix(limit - found.count)
            if page.count < 64 { break }
            offset += page.count
        }
        return found
    }

    /// One stored evaluation.
    public func measurement(configuration: String, in scope: CacheScope) throws(AutotuneError) -> CachedMeasurement? {
        try measurements(of: [configuration], in: scope)[configuration]
    }

    /// Counts of rows per status in a scope.
    public func counts(in scope: CacheScope) throws(AutotuneError) -> [VariantStatus: Int] {
        try read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT status, COUNT(*) AS n FROM measurement WHERE \(Self.scopeClause) GROUP BY status",
                arguments: Self.arguments(scope))
            var counts: [VariantStatus: Int] = [:]
            for row in rows {
                if let status = VariantStatus(rawValue: row["status"]) { counts[status] = row["n"] }
            }
            return counts
        }
    }

    /// The column of an engine's busy time (ns).
    private static func busyColumn(_ engine: Engine) -> String { "busy_\(engine.rawValue)_ns" }

    private static var busyColumns: String { Engine.allCases.map(busyColumn).joined(separator: ", ") }

    private static let scopeClause = "kernel = ? AND problem = ? AND target = ? AND backend = ? AND toolchain = ?"

    private static func arguments(_ scope: CacheScope) -> StatementArguments {
        [scope.kernel, scope.problem, scope.target, scope.backend, scope.toolchain]
    }

    private static func decode(_ row: Row) -> CachedMeasurement {
        let metricsText: String = row["metrics"] ?? "{}"
        let metrics =
            (try? JSONDecoder().decode([String: Double].self, from: Data(metricsText.utf8))) ?? [:]
        var busy: [Engine: Double] = [:]
        for engine in Engine.allCases {
            let column = busyColumn(engine)
            // Rows of schema 4 and older kept busy times among the metrics.
            let value: Double? = row.hasColumn(column) ? row[column] : metrics[column]
            busy[engine] = value
        }
        let measurement = Measurement(
            status: VariantStatus(rawValue: row["status"]) ?? .failed, reason: row["reason"],
            latency: row["latency_ns"],
            latencyMin: row["latency_min_ns"], latencyMax: row["latency_max_ns"], samples: row["samples"],
            busy: busy, metrics: metrics.filter { !$0.key.hasPrefix("busy_") }, compileSeconds: row["compile_s"],
            measureSeconds: row["measure_s"])
        let check: String? = row["check_status"]
        let verdict: String? = row.hasColumn("exact_verdict") ? row["exact_verdict"] : nil
        return CachedMeasurement(
            configuration: row["config"], measurement: measurement, check: check.flatMap(CheckStatus.init(rawValue:)),
            checkError: row["check_error"], reference: row["reference_config"], bitExact: row["bit_exact"],
            exactVerdict: verdict.flatMap(ExactVerdict.init(rawValue:)),
            programDigest: row.hasColumn("program_digest") ? row["program_digest"] : nil,
            measuredAt: row.hasColumn("measured_at") ? row["measured_at"] : nil)
    }

    private static func encode(_ metrics: [String: Double]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(metrics)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

    func read<T>(_ body: (Database) throws -> T) throws(AutotuneError) -> T {
        do {
            return try database.read(body)
        } catch {
            throw AutotuneError(.cache, "cache \(path): \(Self.reason(error, timeout: lockTimeout))")
        }
    }

    func write<T>(_ body: (Database) throws -> T) throws(AutotuneError) -> T {
        guard mode == .readWrite else {
            throw AutotuneError(.cache, "cache \(path) was opened read-only; nothing was written")
        }
        do {
            return try database.write(body)
        } catch {
            throw AutotuneError(.cache, "cache \(path): \(Self.reason(error, timeout: lockTimeout))")
        }
    }
}

extension CacheScope {
    /// The scope of a template's problem on a target, timed by `backend`: the one place a scope is
    /// built from typed values.
    public init(template: any KernelTemplate, problem: Problem, target: Target, backend: any Backend) {
        self.init(
            kernel: template.id, problem: problem.key, target: target.name, backend: backend.name,
            toolchain: backend.toolchain)
    }
}
