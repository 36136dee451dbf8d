import Foundation
import KernelSpace

/// One kernel, problem and target's cached results in Kernel Tuner's cache format (1.x), so
/// `kernel_tuner` can replay them (its simulation mode) or read them with its cache reader.
///
/// The header names the device (`trn2/model`), the kernel, the problem's sizes in field order,
/// the parameters in order with their domains, and the objective `time`; each entry is keyed by
/// its values joined with commas as Python's `str()` prints them, holds every parameter with its
/// JSON-typed value, `time` in milliseconds and the compile, verification and benchmark times in
/// milliseconds. An invalid variant (restrictions or hardware limits) is `InvalidConfig`; a
/// failed one (a wrong answer, a crash) `RuntimeFailedConfig`, in both `time` and `__error__`.
/// In a space of at most ``restrictedLimit`` configurations, those the restrictions exclude are
/// written as `InvalidConfig` too, so an exhaustively swept space replays whole.
public enum KernelTunerCache {
    /// Largest space whose restricted configurations are written too.
    public static let restrictedLimit = 1_000_000

    /// The first key of every file nkitune writes, so it never overwrites another program's cache.
    public static let marker = "\"nkitune\": \"exported by nkitune\""

    /// The file's text for `rows` of a scope over `space`.
    public static func render(
        _ rows: [CachedMeasurement], space: SearchSpace, problem: Problem, scope: CacheScope
    ) -> String {
        var cache: [String: Any] = [:]
        for row in rows {
            guard let configuration = try? space.parse(row.configuration) else { continue }
            var entry: [String: Any] = [:]
            for (name, value) in zip(configuration.names, configuration.values) { entry[name] = json(value) }
            let measurement = row.measurement
            entry["compile_time"] = measurement.compileSeconds * 1000
            entry["verification_time"] = 0.0
            entry["benchmark_time"] = measurement.measureSeconds * 1000
            entry["strategy_time"] = 0.0
            entry["framework_time"] = 0.0
            switch measurement.status {
            case .ok where row.check != .failed:
                let milliseconds = (measurement.latency ?? 0) / 1e6
                entry["time"] = milliseconds
                entry["times"] = [milliseconds]
            case .invalid:
                entry["time"] = "InvalidConfig"
                entry["__error__"] = "InvalidConfig"
            default:
                entry["time"] = "RuntimeFailedConfig"
                entry["__error__"] = "RuntimeFailedConfig"
            }
            cache[configuration.values.map(python).joined(separator: ",")] = entry
        }
        // Configurations the restrictions exclude are Kernel Tuner's invalid ones, so a swept space
        // can be replayed whole (its simulation mode wants every configuration).
        if space.size <= restrictedLimit {
            for index in 0..<space.size {
                let configuration = space.configuration(at: index)
                let key = configuration.values.map(python).joined(separator: ",")
                guard cache[key] == nil, space.exclusion(configuration, for: problem) != nil else { continue }
                var entry: [String: Any] = [
                    "time": "InvalidConfig", "__error__": "InvalidConfig", "compile_time": 0.0,
                    "verification_time": 0.0, "benchmark_time": 0.0, "strategy_time": 0.0, "framework_time": 0.0,
                ]
                for (name, value) in zip(configuration.names, configuration.values) { entry[name] = json(value) }
                cache[key] = entry
            }
        }
        // Keys in Kernel Tuner's order, nkitune's marker first.
        let fields: [(String, Any)] = [
            ("device_name", "\(scope.target)/\(scope.backend)"), ("kernel_name", scope.kernel),
            ("problem_size", problem.values.compactMap(\.intValue)), ("tune_params_keys", space.parameters.map(\.name)),
            ("objective", "time"), ("cache", cache),
        ]
        // Parameters in order: Kernel Tuner keys its cache by their order.
        let domains = space.parameters.map { parameter in
            "\"\(parameter.name)\": " + encode(parameter.domain.values.map(json))
        }
        var text = "{\n" + marker
        for (key, value) in fields {
            if key == "objective" { text += ",\n\"tune_params\": {" + domains.joined(separator: ", ") + "}" }
            text += ",\n\"\(key)\": " + encode(value)
        }
        return text + "\n}\n"
    }

    private static func encode(_ value: Any) -> String {
        let options: JSONSerialization.WritingOptions = [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]
        let data = (try? JSONSerialization.data(withJSONObject: value, options: options)) ?? Data("null".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// A value as Python's `str()` prints it (the cache key's spelling).
    private static func python(_ value: ParameterValue) -> String {
        switch value {
        case .int(let number): String(number)
        case .choice(let text): text
        case .bool(let flag): flag ? "True" : "False"
        }
    }

    private static func json(_ value: ParameterValue) -> Any {
        switch value {
        case .int(let number): number
        case .choice(let text): text
        case .bool(let flag): flag
        }
    }
}
