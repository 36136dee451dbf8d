import Foundation
import GRDB

/// What a file at a cache path is, judged before SQLite is allowed to touch it.
enum CacheFile {
    /// The SQLite `application_id` nkitune stamps in its caches' header ("NKTU").
    static let applicationID: Int32 = 0x4E4B_5455
    /// The schema version this build writes (`PRAGMA user_version`); a cache with a larger one is
    /// from a newer nkitune and is refused.
    static let schemaVersion = 7
    /// Tables of an nkitune cache made before the header was stamped (schema versions 1 and 2).
    private static let legacyTables: Set<String> = ["measurement", "grdb_migrations"]

    /// What was found at a path.
    enum Kind: Equatable {
        /// No file, an empty one, or an SQLite database without tables: a new cache.
        case absent
        /// An nkitune cache of this schema version or an older one.
        case cache(schemaVersion: Int)
    }

    /// Inspects `path`, reading its header and (for caches made before the header was stamped) its
    /// table list through a read-only connection; throws when the file is not an nkitune cache or is
    /// from a newer one. Nothing is written.
    static func inspect(_ path: String, lockTimeout: Double) throws(AutotuneError) -> Kind {
        var status = stat()
        guard stat(path, &status) == 0 else { return .absent }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw AutotuneError(.cache, "cache \(path) is not a regular file; it was left untouched")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw AutotuneError(.cache, "cannot read cache \(path)")
        }
        defer { try? handle.close() }
        let header = [UInt8]((try? handle.read(upToCount: 100)) ?? Data())
        if header.isEmpty { return .absent }
        guard header.count == 100, header.starts(with: Array("SQLite format 3\0".utf8)) else {
            throw AutotuneError(.cache, "cache \(path) is not an SQLite database; it was left untouched")
        }
        let userVersion = Int(bigEndian(header, at: 60))
        let application = Int32(bitPattern: bigEndian(header, at: 68))
        if application == applicationID { return try known(path, schemaVersion: userVersion) }
        if application != 0 {
            throw AutotuneError(
                .cache,
                "cache \(path) is an SQLite database of another application (id "
                    + "\(String(format: "0x%08X", application))); it was left untouched")
        }
        // The header on disk can lag behind a WAL another process has not checkpointed yet: ask SQLite.
        let contents = try contents(path, lockTimeout: lockTimeout)
        if contents.application == applicationID { return try known(path, schemaVersion: contents.userVersion) }
        let (tables, migrations) = (contents.tables, contents.migrations)
        // An SQLite file with no tables holds nothing to lose: a cache whose creation was cut short.
        if tables.isEmpty && contents.userVersion == 0 && contents.application == 0 { return .absent }
        // Ours as written by GRDB's migrator: its table first (perhaps still alone, while another
        // process creates the cache), then ours, with none but our migrations recorded.
        let ours =
            tables.contains("grdb_migrations") && tables.isSubset(of: legacyTables)
            && migrations.isSubset(of: knownMigrations)
            && (!tables.contains("measurement") || migrations.contains("v1"))
        guard ours else {
            let listed = tables.isEmpty ? "no tables" : "tables " + tables.sorted().joined(separator: ", ")
            throw AutotuneError(
                .cache,
                "cache \(path) is an SQLite database that is not an nkitune cache (\(listed)); "
                    + "it was left untouched")
        }
        return .cache(schemaVersion: 2)
    }

    private static func bigEndian(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The migrations nkitune's caches record.
    static let knownMigrations: Set<String> = ["v1", "v2-bit-exact", "v3-verified-exact"]

    /// What SQLite reports of a database, read through a read-only connection that waits up to
    /// `lockTimeout` seconds for a writer.
    private struct Contents {
        var application: Int32
        var userVersion: Int
        var tables: Set<String>
        /// Migrations GRDB recorded (caches of schema 1 and 2).
        var migrations: Set<String>
    }

    private static func contents(_ path: String, lockTimeout: Double) throws(AutotuneError) -> Contents {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(lockTimeout)
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            return try queue.read { db in
                let tables = try Set(
                    String.fetchAll(
                        db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
                let migrations =
                    tables.contains("grdb_migrations")
                    ? try Set(String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")) : []
                return Contents(
                    application: try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0,
                    userVersion: try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0, tables: tables,
                    migrations: migrations)
            }
        } catch {
            throw AutotuneError(
                .cache, "cannot read cache \(path): \(TimingCache.reason(error)); it was left untouched")
        }
    }

    /// An nkitune cache of `schemaVersion`, refused when a newer nkitune wrote it.
    private static func known(_ path: String, schemaVersion version: Int) throws(AutotuneError) -> Kind {
        guard version <= schemaVersion else {
            throw AutotuneError(
                .cache,
                "cache \(path) has schema version \(version), newer than this nkitune's "
                    + "\(schemaVersion); use a newer nkitune (the file was left untouched)")
        }
        return .cache(schemaVersion: version)
    }
}
