import CostModel
import KernelSpace

/// Where a chosen variant came from.
public enum VariantSource: Sendable, Equatable {
    /// The caller named it.
    case given
    /// The fastest cached variant whose program is the one the template builds today.
    case tuned(latency: Double)
    /// The template's (or space's) default configuration.
    case defaultConfiguration
    /// The first valid configuration of a seeded sample (or, failing that, of the space in
    /// order), the default being excluded or over a limit.
    case firstValid

    /// `tuned`, `default`, `first valid` or `given`, for tables.
    public var label: String {
        switch self {
        case .given: "given"
        case .tuned: "tuned"
        case .defaultConfiguration: "default"
        case .firstValid: "first valid"
        }
    }
}

/// A variant chosen to emit, explain or estimate, with its program.
public struct ResolvedVariant: Sendable {
    /// The configuration.
    public var configuration: Configuration
    /// Its program for the problem.
    public var program: KernelProgram
    /// Where it came from.
    public var source: VariantSource
}

/// Which variant of a kernel a command works on: a given configuration, else the fastest cached
/// variant that is still current, else (when allowed) the default configuration, else the first
/// valid one. The one place `emit`, `explain` and `model` choose a variant; every choice passes the
/// space's restrictions and the target's limits.
///
/// ```swift
/// let resolver = VariantResolver(space: space, problem: problem, target: .trn2, cache: cache, backend: ModelBackend())
/// let variant = try resolver.resolve(nil, fallBackToDefault: true)
/// ```
public struct VariantResolver: Sendable {
    /// The space choices come from.
    public var space: SearchSpace
    /// The problem.
    public var problem: Problem
    /// The chip.
    public var target: Target
    /// Where tuned variants are looked up; nil when there is no cache.
    public var cache: TimingCache?
    /// The backend whose timings count.
    public var backend: any Backend

    /// A resolver over `cache` (nil: no tuned variants).
    public init(space: SearchSpace, problem: Problem, target: Target, cache: TimingCache?, backend: any Backend) {
        self.space = space
        self.problem = problem
        self.target = target
        self.cache = cache
        self.backend = backend
    }

    /// The cache scope of this kernel, problem, target and backend.
    public var scope: CacheScope {
        CacheScope(template: space.template, problem: problem, target: target, backend: backend)
    }

    /// Whether a cached row is in the space and was measured on the program the template builds
    /// today (its digest matches); a row of a changed template is stale and never served.
    public func isCurrent(_ entry: CachedMeasurement) -> Bool {
        guard let configuration = try? space.parse(entry.configuration), configuration.key == entry.configuration,
            space.exclusion(configuration, for: problem) == nil
        else { return false }
        return entry.programDigest == space.template.program(for: problem, configuration: configuration).digest
    }

    /// The fastest current cached variants.
    public func fastest(limit: Int, exactTo reference: String? = nil) throws(AutotuneError) -> [CachedMeasurement] {
        guard let cache else { return [] }
        return try cache.best(in: scope, limit: limit, exactTo: reference, where: isCurrent)
    }

    /// Chooses a variant: `given` when set, else the fastest current cached one, else (with
    /// `fallBackToDefault`) the default configuration or the first valid one.
    public func resolve(_ given: Configuration?, fallBackToDefault: Bool) throws -> ResolvedVariant {
        let template = space.template
        if let given { return try checked(given, source: .given) }
        if let entry = try fastest(limit: 1).first, let configuration = try? space.parse(entry.configuration) {
            return try checked(configuration, source: .tuned(latency: entry.measurement.latency ?? 0))
        }
        guard fallBackToDefault else {
            let path = cache?.path ?? "the cache"
            throw AutotuneError(
                .variant,
                "no tuned variant of \(template.id) \(problem.key) on \(target.name) in \(path); "
                    + "run `nkitune tune` first or pass --config")
        }
        let fallback = space.defaultConfiguration
        if let variant = try? checked(fallback, source: .defaultConfiguration) { return variant }
        // A seeded sample first (it reaches all of the space, where space order starts at its
        // smallest tiles), then space order when the space is small enough to walk in seconds.
        let walkable = space.size <= Self.walkLimit
        var looked = 0
        for strategy in walkable ? [Strategy.random, .exhaustive] : [.random] {
            var search = strategy.makeSearch(in: space, for: problem, budget: 64, seed: 1)
            while !search.isExhausted {
                for configuration in search.propose(64) {
                    if let variant = try? checked(configuration, source: .firstValid) { return variant }
                }
            }
            looked = search.census.considered
        }
        let reason =
            space.exclusion(fallback, for: problem)
            ?? ResourceCheck.violation(
                of: template.program(for: problem, configuration: fallback), limits: target.limits) ?? ""
        let scope =
            walkable
            ? "in this space"
            : "among \(looked) sampled of the \(space.size) configurations of this space"
        throw AutotuneError(
            .variant,
            "no configuration of \(template.id) is valid for \(problem.key) on \(target.name) \(scope) "
                + "(the default: \(reason))")
    }

    /// Spaces up to this size are walked whole when no sampled configuration is valid.
    static let walkLimit = 1 << 20

    /// The variant of a configuration, or why it is not valid or does not fit.
    private func checked(_ configuration: Configuration, source: VariantSource) throws -> ResolvedVariant {
        if let reason = space.exclusion(configuration, for: problem) {
            throw AutotuneError(
                .variant, "configuration \(configuration.key) is not valid for \(problem.key): \(reason)")
        }
        let program = space.template.program(for: problem, configuration: configuration)
        if let reason = ResourceCheck.violation(of: program, limits: target.limits) {
            throw AutotuneError(.variant, "configuration \(configuration.key) does not fit \(target.name): \(reason)")
        }
        return ResolvedVariant(configuration: configuration, program: program, source: source)
    }
}
