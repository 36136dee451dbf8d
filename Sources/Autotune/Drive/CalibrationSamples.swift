import CostModel
import KernelSpace

/// The measured latencies in a cache, rebuilt as programs the performance model can time: what
/// `nkitune calibrate` fits to.
public struct CalibrationSamples: Sendable {
    /// The samples chosen.
    public var samples: [CalibrationSample]
    /// Successful measurements found for the target and backend.
    public var found: Int
    /// Rows that could not be rebuilt, by reason (unknown kernel, unreadable problem or
    /// configuration, no longer a valid variant).
    public var skipped: [String: Int]
    /// The toolchains the chosen samples were measured with.
    public var toolchains: Set<String>

    /// Reads every successful, not-wrong measurement of `target` by `backend`, spread evenly over
    /// kernels, problems and latencies when there are more than `limit`.
    public static func load(
        from cache: TimingCache, target: Target, backend: String, templates: [any KernelTemplate], limit: Int
    ) throws(AutotuneError) -> CalibrationSamples {
        let rows = try cache.measuredRows(target: target.name, backend: backend)
        let stride = max(1, (rows.count + limit - 1) / max(1, limit))
        var result = CalibrationSamples(samples: [], found: rows.count, skipped: [:], toolchains: [])
        for row in Swift.stride(from: 0, to: rows.count, by: stride).map({ rows[$0] }) {
            guard let template = templates.first(where: { $0.id == row.kernel }) else {
                result.skipped["unknown kernel \(row.kernel)", default: 0] += 1
                continue
            }
            guard let problem = try? template.parseProblem(row.problem),
                let configuration = try? SearchSpace(template).parse(row.configuration)
            else {
                result.skipped["unreadable problem or configuration of \(row.kernel)", default: 0] += 1
                continue
            }
            let program = template.program(for: problem, configuration: configuration)
            if template.restriction(configuration, for: problem) != nil
                || ResourceCheck.violation(of: program, limits: target.limits) != nil
            {
                result.skipped["no longer a valid variant", default: 0] += 1
                continue
            }
            result.samples.append(
                CalibrationSample(
                    label: "\(row.kernel) \(row.problem) \(row.configuration)", program: program,
                    measured: row.latency))
            result.toolchains.insert(row.toolchain)
        }
        return result
    }
}
