import GRDB

extension TimingCache {
    /// Merges the measurements of another cache (a fleet worker's shard) into this one and returns
    /// how many rows it added or replaced. Rows are keyed by content (kernel, problem,
    /// configuration, target, backend, toolchain): a row this cache already holds for the same
    /// program is kept with its checks, so merging the same shard twice, or a shard of a requeued
    /// task, changes nothing. The shard is judged like any cache first (a foreign, damaged or newer
    /// file is refused and left as it was) and only read.
    ///
    /// ```swift
    /// let added = try cache.merge(shard: "/shared/round-1/shard-0.sqlite")
    /// ```
    public func merge(shard path: String) throws(AutotuneError) -> Int {
        _ = try TimingCache(path: path, mode: .readOnly, lockTimeout: 5)
        guard mode == .readWrite else {
            throw AutotuneError(.cache, "cache \(self.path) was opened read-only; nothing was merged")
        }
        do {
            let columns = try database.read { db in try db.columns(in: "measurement").map(\.name) }
            let keys: Set = ["kernel", "problem", "config", "target", "backend", "toolchain"]
            let list = columns.map { "\"\($0)\"" }.joined(separator: ", ")
            let updates = columns.filter { !keys.contains($0) }.map { "\"\($0)\" = excluded.\"\($0)\"" }
                .joined(separator: ", ")
            return try database.writeWithoutTransaction { db in
                try db.execute(sql: "ATTACH DATABASE ? AS shard", arguments: [path])
                defer { try? db.execute(sql: "DETACH DATABASE shard") }
                var changed = 0
                try db.inTransaction(.immediate) {
                    try db.execute(
                        sql: """
                            INSERT INTO main.measurement (\(list))
                            SELECT \(list) FROM shard.measurement WHERE true
                            ON CONFLICT (kernel, problem, config, target, backend, toolchain) DO UPDATE SET \(updates)
                            WHERE measurement.program_digest IS NOT excluded.program_digest
                            """)
                    changed = db.changesCount
                    return .commit
                }
                return changed
            }
        } catch {
            throw AutotuneError(.cache, "cannot merge \(path) into \(self.path): \(Self.reason(error))")
        }
    }
}
