import Autotune
import KernelSpace

/// The table of the fastest current cached variants, with their speedup over the default
/// configuration, bound engine, check and exactness.
enum BestTable {
    /// Prints up to `limit` rows and returns how many were shown.
    @discardableResult
    static func print(
        _ resolver: VariantResolver, limit: Int, exactTo reference: String? = nil, cachePath: String? = nil
    ) throws -> Int {
        let scope = resolver.scope
        let best = try resolver.fastest(limit: limit, exactTo: reference)
        guard let cache = resolver.cache, !best.isEmpty else {
            Output.line(
                "no successful variant of \(scope.kernel) \(scope.problem) on \(scope.target) in "
                    + (resolver.cache?.path ?? cachePath ?? "the cache"))
            return 0
        }
        let baseline = try cache.measurement(
            configuration: resolver.space.template.defaultConfiguration.key, in: scope
        ).flatMap { resolver.isCurrent($0) ? $0.measurement.latency : nil }
        let rows = best.enumerated().map { rank, entry -> [String] in
            let latency = entry.measurement.latency
            let speedup = baseline.flatMap { base in latency.map { String(format: "%.2fx", base / $0) } } ?? "-"
            return [
                String(rank + 1), formatLatency(latency), speedup, entry.measurement.boundEngine?.rawValue ?? "-",
                entry.check?.rawValue ?? "-", exactness(entry), entry.configuration,
            ]
        }
        Output.line(
            TableRenderer.render(
                headers: ["#", "latency", "vs default", "bound", "check", "bit-exact", "configuration"], rows: rows,
                rightAligned: [0, 1, 2]))
        return best.count
    }

    /// `verified` (compared bit for bit), `declared` (agrees on the numerics parameters, not yet
    /// compared), `no`, or `-` when nothing is recorded.
    private static func exactness(_ entry: CachedMeasurement) -> String {
        switch (entry.exactVerdict, entry.bitExact) {
        case (.identical?, _): "verified"
        case (.different?, _): "no"
        case (nil, true?): "declared"
        case (nil, false?): "no"
        case (nil, nil): "-"
        }
    }
}
