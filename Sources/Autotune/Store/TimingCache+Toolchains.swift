import GRDB

extension TimingCache {
    /// The toolchain of the newest measurement `backend` stored, or nil when it stored none: what
    /// a command that only reads the cache takes for a hardware backend it cannot start here.
    public func latestToolchain(backend: String) throws(AutotuneError) -> String? {
        try read { db in
            try String.fetchOne(
                db,
                sql: """
                    SELECT toolchain FROM measurement WHERE backend = ? ORDER BY measured_at DESC LIMIT 1
                    """, arguments: [backend])
        }
    }
}
