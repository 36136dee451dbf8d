import Autotune
import Foundation
import GRDB
import Synchronization
import Testing

@Suite struct CacheFileTests {
    let scope = CacheScope(kernel: "linear", problem: "M=1", target: "trn2", backend: "model", toolchain: "t1")

    func makeDirectory() throws -> String {
        let path = temporaryPath("cache.sqlite")
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        return path
    }

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test func anotherApplicationsDatabaseIsLeftExactlyAsItWas() throws {
        let path = try makeDirectory()
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE measurement (id INTEGER PRIMARY KEY, value REAL)")
            try db.execute(sql: "CREATE TABLE other (x)")
            try db.execute(sql: "INSERT INTO measurement (value) VALUES (1.5)")
        }
        try queue.close()
        let before = try bytes(path)
        for mode in [TimingCache.Mode.readWrite, .readOnly] {
            #expect {
                try TimingCache(path: path, mode: mode)
            } throws: { error in
                (error as? AutotuneError)?.message
                    == "cache \(path) is an SQLite database that is not an nkitune cache (tables measurement, other); "
                    + "it was left untouched"
            }
        }
        #expect(try bytes(path) == before)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
    }

    @Test func aNewerSchemaIsRefused() throws {
        let path = try makeDirectory()
        try TimingCache(path: path).insert([("a=1", Measurement(status: .ok, latency: 5, samples: 1))], in: scope)
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: "PRAGMA user_version = 99") }
        try queue.close()
        let before = try bytes(path)
        #expect {
            try TimingCache(path: path)
        } throws: { error in
            (error as? AutotuneError)?.message
                == "cache \(path) has schema version 99, newer than this nkitune's 7; use a newer nkitune "
                + "(the file was left untouched)"
        }
        #expect(try bytes(path) == before)
    }

    @Test func aCacheOfTheFirstSchemaIsMigratedWithItsRows() throws {
        let path = try makeDirectory()
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                    INSERT INTO grdb_migrations VALUES ('v1'), ('v2-bit-exact');
                    CREATE TABLE measurement (
                        kernel TEXT NOT NULL, problem TEXT NOT NULL, config TEXT NOT NULL, target TEXT NOT NULL,
                        backend TEXT NOT NULL, toolchain TEXT NOT NULL, status TEXT NOT NULL, reason TEXT,
                        latency_ns REAL, latency_min_ns REAL, latency_max_ns REAL, samples INTEGER NOT NULL DEFAULT 0,
                        metrics TEXT NOT NULL DEFAULT '{}', check_status TEXT, check_error REAL,
                        compile_s REAL NOT NULL DEFAULT 0, measure_s REAL NOT NULL DEFAULT 0, measured_at TEXT NOT NULL,
                        reference_config TEXT, bit_exact INTEGER,
                        PRIMARY KEY (kernel, problem, config, target, backend, toolchain)) WITHOUT ROWID;
                    INSERT INTO measurement (kernel, problem, config, target, backend, toolchain, status, latency_ns,
                        measured_at) VALUES ('linear', 'M=1', 'a=1', 'trn2', 'model', 't1', 'ok', 7, 'then');
                    """)
        }
        try queue.close()
        let cache = try TimingCache(path: path)
        #expect(try cache.best(in: scope, limit: 1).first?.measurement.latency == 7)
        try cache.recordExactVerdict(
            configuration: "a=1", in: scope, reference: "a=1", verdict: .identical, reason: nil)
        #expect(try cache.best(in: scope, limit: 1).first?.exactVerdict == .identical)
    }

    @Test func readingLeavesTheFileByteForByte() throws {
        let path = try makeDirectory()
        try TimingCache(path: path).insert([("a=1", Measurement(status: .ok, latency: 5, samples: 1))], in: scope)
        let before = try bytes(path)
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: path)
        let reader = try TimingCache(path: path, mode: .readOnly)
        #expect(try reader.best(in: scope, limit: 1).first?.measurement.latency == 5)
        #expect(try reader.counts(in: scope) == [.ok: 1])
        #expect(throws: AutotuneError(.cache, "cache \(path) was opened read-only; nothing was written")) {
            try reader.insert([("a=2", Measurement(status: .ok, latency: 1, samples: 1))], in: scope)
        }
        #expect(try bytes(path) == before)
        #expect(throws: AutotuneError(.cache, "no cache at \(path)-missing")) {
            try TimingCache(path: path + "-missing", mode: .readOnly)
        }
        #expect(!FileManager.default.fileExists(atPath: path + "-missing"))
    }

    @Test func aHeldLockIsAnnouncedAndTimesOut() throws {
        let path = try makeDirectory()
        _ = try TimingCache(path: path)
        var unsafe = Configuration()
        unsafe.allowsUnsafeTransactions = true
        let holder = try DatabaseQueue(path: path, configuration: unsafe)
        try holder.inDatabase { try $0.execute(sql: "BEGIN EXCLUSIVE") }
        defer { try? holder.inDatabase { try $0.execute(sql: "ROLLBACK") } }
        let told = Mutex<[String]>([])
        #expect {
            let cache = try TimingCache(path: path, lockTimeout: 0.3) { message in
                told.withLock { $0.append(message) }
            }
            try cache.insert([("a=1", Measurement(status: .ok, latency: 5, samples: 1))], in: scope)
        } throws: { error in
            (error as? AutotuneError)?.message.hasSuffix(
                "cache \(path): locked by another process; gave up after 0.3 s (see --lock-timeout)") == true
        }
        #expect(told.withLock { $0 } == ["cache \(path) is locked by another process; waiting up to 0.3 s for it"])
    }

    /// SQLite refuses a lock without waiting while another connection switches a new file to WAL
    /// mode; six writers creating one cache at once, twenty times over, all open it and keep their rows.
    @Test func writersCreatingOneCacheAtOnceAllOpenIt() throws {
        for round in 0..<20 {
            let path = try makeDirectory()
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 6) { writer in
                do {
                    try TimingCache(path: path).insert(
                        [("w=\(writer)", Measurement(status: .ok, latency: 5, samples: 1))], in: scope)
                } catch {
                    failures.withLock { $0.append("round \(round), writer \(writer): \(error)") }
                }
            }
            #expect(failures.withLock { $0 }.isEmpty)
            #expect(try TimingCache(path: path, mode: .readOnly).configurations(in: scope).count == 6)
        }
    }
}
