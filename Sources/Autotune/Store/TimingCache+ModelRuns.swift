import Foundation
import GRDB

/// What a whole-model tuning run has spent so far, over every process that worked on it.
public struct ModelRunSpending: Sendable, Equatable {
    /// Variants evaluated (cached hits excluded).
    public var measurements: Int
    /// Seconds of tuning, summed over the processes that ran.
    public var seconds: Double
}

/// One prompt's figures in a stored estimate.
public struct PromptFigures: Sendable, Codable, Equatable {
    /// The prompt's number.
    public var index: Int
    /// Time to first token (ns).
    public var timeToFirstToken: Double
    /// One decode step (ns).
    public var decodePerToken: Double
    /// End-to-end latency (ns).
    public var latency: Double
    /// Estimated contest score.
    public var score: Double

    /// Creates a value with every field given.
    public init(index: Int, timeToFirstToken: Double, decodePerToken: Double, latency: Double, score: Double) {
        self.index = index
        self.timeToFirstToken = timeToFirstToken
        self.decodePerToken = decodePerToken
        self.latency = latency
        self.score = score
    }
}

/// The model estimate after one round of a run, as stored for the history a report plots.
public struct EstimateRecord: Sendable, Equatable {
    /// Seconds the run had spent when it was made.
    public var seconds: Double
    /// Measurements the run had spent.
    public var measurements: Int
    /// The prefill step (ns).
    public var prefill: Double
    /// One decode step (ns).
    public var decode: Double
    /// All scored generations (ns).
    public var scoredTime: Double
    /// Estimated contest score.
    public var score: Double
    /// Per public prompt.
    public var prompts: [PromptFigures]

    /// Creates a value with every field given.
    public init(
        seconds: Double, measurements: Int, prefill: Double, decode: Double, scoredTime: Double, score: Double,
        prompts: [PromptFigures]
    ) {
        self.seconds = seconds
        self.measurements = measurements
        self.prefill = prefill
        self.decode = decode
        self.scoredTime = scoredTime
        self.score = score
        self.prompts = prompts
    }
}

/// One slice of a task in a run: when it ended and the task's best latency then.
public struct SliceRecord: Sendable, Equatable {
    /// The task's name (`kernel problem`).
    public var task: String
    /// Seconds the run had spent.
    public var seconds: Double
    /// Measurements the run had spent.
    public var measurements: Int
    /// The task's best standalone latency after the slice (ns), or nil when none was valid.
    public var best: Double?
}

/// Who holds a task: a process on a host.
public struct LeaseOwner: Sendable, Equatable {
    /// Host name.
    public var host: String
    /// Process id.
    public var pid: Int32

    /// This process.
    public static var current: LeaseOwner {
        LeaseOwner(host: ProcessInfo.processInfo.hostName, pid: ProcessInfo.processInfo.processIdentifier)
    }

    /// Creates a value with every field given.
    public init(host: String, pid: Int32) {
        self.host = host
        self.pid = pid
    }
}

extension TimingCache {
    /// Tables of whole-model runs (schema 6): what each run spent, its estimates after every
    /// round, its slices, and the leases that keep two processes off the same task.
    static func createModelRunTables(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE IF NOT EXISTS model_run (
                    run_key TEXT PRIMARY KEY,
                    measurements INTEGER NOT NULL DEFAULT 0,
                    seconds REAL NOT NULL DEFAULT 0,
                    started_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS model_estimate (
                    id INTEGER PRIMARY KEY,
                    run_key TEXT NOT NULL,
                    recorded_at TEXT NOT NULL,
                    seconds REAL NOT NULL,
                    measurements INTEGER NOT NULL,
                    prefill_ns REAL NOT NULL,
                    decode_ns REAL NOT NULL,
                    scored_ns REAL NOT NULL,
                    score REAL NOT NULL,
                    prompts TEXT NOT NULL DEFAULT '[]'
                );
                CREATE INDEX IF NOT EXISTS model_estimate_run ON model_estimate (run_key, id);
                CREATE TABLE IF NOT EXISTS task_slice (
                    id INTEGER PRIMARY KEY,
                    run_key TEXT NOT NULL,
                    task TEXT NOT NULL,
                    seconds REAL NOT NULL,
                    measurements INTEGER NOT NULL,
                    best_ns REAL
                );
                CREATE INDEX IF NOT EXISTS task_slice_run ON task_slice (run_key, task, id);
                CREATE TABLE IF NOT EXISTS task_lease (
                    run_key TEXT NOT NULL,
                    task TEXT NOT NULL,
                    host TEXT NOT NULL,
                    pid INTEGER NOT NULL,
                    expires REAL NOT NULL,
                    PRIMARY KEY (run_key, task)
                ) WITHOUT ROWID;
                """)
    }

    /// What a run has spent (zero for a run never started).
    public func spending(of run: String) throws(AutotuneError) -> ModelRunSpending {
        try read { db in try Self.spending(db, run: run) }
    }

    /// Adds seconds to what a run has spent and returns the new total (several processes may add
    /// at once). Measurements are counted as they are stored (``insert(_:in:reference:bitExact:digest:countingToward:)``).
    @discardableResult
    public func spend(seconds: Double, on run: String) throws(AutotuneError) -> ModelRunSpending {
        try write { db in
            try Self.addSpending(db, run: run, measurements: 0, seconds: seconds)
            return try Self.spending(db, run: run)
        }
    }

    private static func spending(_ db: Database, run: String) throws -> ModelRunSpending {
        let row = try Row.fetchOne(
            db, sql: "SELECT measurements, seconds FROM model_run WHERE run_key = ?", arguments: [run])
        return ModelRunSpending(measurements: row?["measurements"] ?? 0, seconds: row?["seconds"] ?? 0)
    }

    static func addSpending(_ db: Database, run: String, measurements: Int, seconds: Double) throws {
        let now = timestamp()
        try db.execute(
            sql: """
                INSERT INTO model_run (run_key, measurements, seconds, started_at, updated_at)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (run_key) DO UPDATE SET measurements = measurements + excluded.measurements,
                    seconds = seconds + excluded.seconds, updated_at = excluded.updated_at
                """, arguments: [run, measurements, seconds, now, now])
    }

    /// Stores the estimate after a round.
    public func record(_ estimate: EstimateRecord, of run: String) throws(AutotuneError) {
        let prompts = (try? JSONEncoder().encode(estimate.prompts)).flatMap { String(data: $0, encoding: .utf8) }
        try write { db in
            try db.execute(
                sql: """
                    INSERT INTO model_estimate
                        (run_key, recorded_at, seconds, measurements, prefill_ns, decode_ns, scored_ns, score, prompts)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    run, Self.timestamp(), estimate.seconds, estimate.measurements, estimate.prefill, estimate.decode,
                    estimate.scoredTime, estimate.score, prompts ?? "[]",
                ])
        }
    }

    /// A run's estimates in the order they were stored.
    public func estimates(of run: String) throws(AutotuneError) -> [EstimateRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM model_estimate WHERE run_key = ? ORDER BY id", arguments: [run])
                .map { row in
                    let text: String = row["prompts"]
                    let prompts = (try? JSONDecoder().decode([PromptFigures].self, from: Data(text.utf8))) ?? []
                    return EstimateRecord(
                        seconds: row["seconds"], measurements: row["measurements"], prefill: row["prefill_ns"],
                        decode: row["decode_ns"], scoredTime: row["scored_ns"], score: row["score"], prompts: prompts)
                }
        }
    }

    /// Stores one slice of a task.
    public func record(_ slice: SliceRecord, of run: String) throws(AutotuneError) {
        try write { db in
            try db.execute(
                sql: "INSERT INTO task_slice (run_key, task, seconds, measurements, best_ns) VALUES (?, ?, ?, ?, ?)",
                arguments: [run, slice.task, slice.seconds, slice.measurements, slice.best])
        }
    }

    /// A run's slices in the order they were stored.
    public func slices(of run: String) throws(AutotuneError) -> [SliceRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM task_slice WHERE run_key = ? ORDER BY id", arguments: [run]).map {
                SliceRecord(
                    task: $0["task"], seconds: $0["seconds"], measurements: $0["measurements"], best: $0["best_ns"])
            }
        }
    }

    /// Takes the lease of a task for `seconds` unless another live process holds it: a lease
    /// whose time is up, or whose holder on this host has exited (killed, say), is taken over.
    /// Returns whether this owner holds it now.
    public func lease(
        _ task: String, of run: String, for seconds: Double, owner: LeaseOwner = .current
    ) throws(AutotuneError) -> Bool {
        let now = Date().timeIntervalSince1970
        return try write { db in
            if let row = try Row.fetchOne(
                db, sql: "SELECT host, pid, expires FROM task_lease WHERE run_key = ? AND task = ?",
                arguments: [run, task])
            {
                let holder = LeaseOwner(host: row["host"], pid: row["pid"])
                let expires: Double = row["expires"]
                let alive = holder.host != owner.host || Self.isRunning(holder.pid)
                if holder != owner && expires > now && alive { return false }
            }
            try db.execute(
                sql: "INSERT OR REPLACE INTO task_lease (run_key, task, host, pid, expires) VALUES (?, ?, ?, ?, ?)",
                arguments: [run, task, owner.host, owner.pid, now + seconds])
            return true
        }
    }

    /// Gives a lease back (only if this owner holds it).
    public func release(_ task: String, of run: String, owner: LeaseOwner = .current) throws(AutotuneError) {
        try write { db in
            try db.execute(
                sql: "DELETE FROM task_lease WHERE run_key = ? AND task = ? AND host = ? AND pid = ?",
                arguments: [run, task, owner.host, owner.pid])
        }
    }

    private static func isRunning(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    static func timestamp() -> String {
        ISO8601DateFormatter().string(from: Date())
    }
}
