import Autotune
import CostModel
import KernelSpace

extension CacheOptions {
    /// The resolver of a kernel's variants over the cache, opened read-only (none when it does not
    /// exist).
    func resolver(space: SearchSpace, problem: Problem, target: Target) throws -> VariantResolver {
        let cache = try openCacheForReading()
        return VariantResolver(
            space: space, problem: problem, target: target, cache: cache,
            backend: try makeBackend(jobs: 1, cache: cache, target: target))
    }

    /// The variant a command works on: `--config` when given, else the fastest current cached
    /// variant, else (when `orDefault`) the default or first valid configuration.
    func chooseVariant(config: String?, space: SearchSpace, problem: Problem, target: Target, orDefault: Bool)
        throws -> ResolvedVariant
    {
        let given = try config.map { key throws(KernelSpaceError) in try space.parse(key) }
        return try resolver(space: space, problem: problem, target: target).resolve(
            given, fallBackToDefault: orDefault)
    }
}
