import KernelSpace

/// Evaluates batches of variants somewhere other than this host (a Slurm job array) and brings the
/// results into the main cache.
public protocol Fleet: Sendable {
    /// Evaluates `configurations` of the request's kernel, merges what was measured into `cache`
    /// and returns each configuration's stored result (those the fleet could not evaluate, after
    /// its retries, are left out, so a later round proposes them again).
    func evaluate(
        _ configurations: [Configuration], request: TuneRequest, scope: CacheScope, into cache: TimingCache,
        shouldStop: @escaping @Sendable () -> Bool
    ) throws(AutotuneError) -> [(configuration: Configuration, measurement: Measurement)]
}
