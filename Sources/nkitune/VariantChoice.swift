import Autotune
import CostModel
import KernelSpace

/// The variant a command works on: a `--config` key, else the fastest cached variant, else (when
/// allowed) the default configuration or, where the template restricts that for the problem, the
/// first valid one; checked against the template's restrictions and the target's limits.
struct VariantChoice {
    var configuration: Configuration
    var program: KernelProgram
    /// The cached latency, when the variant came from the cache.
    var predicted: Double?

    /// Chooses and validates a variant; errors are one line naming the bad value.
    static func choose(
        config: String?, space: SearchSpace, problem: Problem, target: Target, cacheOptions: CacheOptions,
        orDefault: Bool
    ) throws -> VariantChoice {
        let template = space.template
        var configuration = space.defaultConfiguration
        var predicted: Double?
        if let config {
            do {
                configuration = try space.parse(config)
            } catch {
                throw CLIError(error.message)
            }
        } else if let entry = try fastest(
            template: template, problem: problem, target: target, cacheOptions: cacheOptions)
        {
            do {
                configuration = try space.parse(entry.configuration)
            } catch {
                throw CLIError("cached configuration is not in the current space: \(error.message)")
            }
            predicted = entry.measurement.latency
        } else if !orDefault {
            throw CLIError(
                "no tuned variant of \(template.id) \(problem.key) on \(target.name) in \(cacheOptions.cache); "
                    + "run `nkitune tune` first or pass --config")
        } else if space.exclusion(configuration, for: problem) != nil {
            guard let valid = Strategy.exhaustive.candidates(in: space, for: problem, budget: 1, seed: 0).first else {
                let reason = space.exclusion(configuration, for: problem) ?? ""
                throw CLIError(
                    "no configuration of \(template.id) is valid for \(problem.key) in this space (the default: \(reason))"
                )
            }
            configuration = valid
        }
        if let reason = space.exclusion(configuration, for: problem) {
            throw CLIError("configuration \(configuration.key) is not valid for \(problem.key): \(reason)")
        }
        let program = template.program(for: problem, configuration: configuration)
        if let reason = ResourceCheck.violation(of: program, limits: target.limits) {
            throw CLIError("configuration \(configuration.key) does not fit \(target.name): \(reason)")
        }
        return VariantChoice(configuration: configuration, program: program, predicted: predicted)
    }

    private static func fastest(
        template: any KernelTemplate, problem: Problem, target: Target, cacheOptions: CacheOptions
    ) throws -> CachedMeasurement? {
        guard let cache = try cacheOptions.openCacheForReading() else { return nil }
        let scope = CacheScope(
            template: template, problem: problem, target: target, backend: try cacheOptions.makeBackend(jobs: 1))
        do {
            return try cache.best(in: scope, limit: 1).first
        } catch {
            throw CLIError(error.message)
        }
    }
}
