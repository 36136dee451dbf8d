import KernelSpace

/// What the numeric checks of a run did.
public struct VerificationSummary: Sendable, Equatable {
    /// Variants run on the interpreter in this run.
    public var checked = 0
    /// Of those, how many computed a wrong answer (now marked failed).
    public var wrong = 0
    /// Declared bit-exact to the reference but found different bit for bit (now marked failed).
    public var notExact = 0
    /// Fast cached variants passed over because they are outside this run's space (a narrowed space
    /// file, `--exact`) or were measured on a program the template no longer builds: not judged,
    /// not changed.
    public var outsideSpace = 0
    /// Variants among the fastest that have passed (in this run or before).
    public var passed = 0
    /// Whether the checks were stopped before they finished.
    public var interrupted = false

    /// Creates an empty summary.
    public init() {}
}

/// Checks the fastest variants of a scope on the interpreter until `request.verify` of them have
/// passed. It judges only variants it runs: a cached variant outside the request's space is passed
/// over untouched, and one already checked keeps its verdict. Under `--exact` each is also run
/// against the reference configuration on the same inputs and compared bit for bit.
struct Verifier {
    let request: TuneRequest
    let scope: CacheScope
    let cache: TimingCache
    let resolver: VariantResolver
    let shouldStop: @Sendable () -> Bool

    /// Checks run at most per requested pass, and fast variants looked at at most, so a cache full
    /// of wrong or out-of-space variants cannot make the checks run on and on.
    static let checksPerPass = 10
    static let scanLimit = 5000

    func run(progress: (_ done: Int, _ total: Int) -> Void) throws(AutotuneError) -> VerificationSummary {
        var summary = VerificationSummary()
        guard request.verify > 0 else { return summary }
        let reference = request.space.exactReference
        let maximumRuns = request.verify * Self.checksPerPass
        var runs = 0
        var offset = 0
        progress(0, request.verify)
        scan: while summary.passed < request.verify && runs < maximumRuns && offset < Self.scanLimit {
            let page = try cache.best(in: scope, limit: 64, offset: offset, exactTo: reference?.key)
            if page.isEmpty { break }
            for entry in page {
                guard resolver.isCurrent(entry), let configuration = try? request.space.parse(entry.configuration)
                else {
                    summary.outsideSpace += 1
                    offset += 1
                    continue
                }
                let needsCheck = entry.check == nil
                let needsComparison = reference != nil && entry.exactVerdict == nil
                if needsCheck || needsComparison {
                    if shouldStop() {
                        summary.interrupted = true
                        break scan
                    }
                    runs += 1
                }
                if needsCheck {
                    let result = NumericCheck.run(
                        request.space.template, problem: request.problem, configuration: configuration)
                    summary.checked += 1
                    try cache.recordCheck(
                        configuration: entry.configuration, in: scope, status: result.passed ? .passed : .failed,
                        error: result.error.isFinite ? result.error : nil, reason: result.reason)
                    if !result.passed {
                        summary.wrong += 1
                        progress(summary.passed, request.verify)
                        continue scan
                    }
                }
                if needsComparison, let reference {
                    let comparison = NumericCheck.bitExact(
                        request.space.template, problem: request.problem, configuration: configuration,
                        reference: reference)
                    try cache.recordExactVerdict(
                        configuration: entry.configuration, in: scope, reference: reference.key,
                        verdict: comparison.exact ? .identical : .different, reason: comparison.reason)
                    if !comparison.exact {
                        summary.notExact += 1
                        progress(summary.passed, request.verify)
                        continue scan
                    }
                }
                summary.passed += 1
                offset += 1
                progress(summary.passed, request.verify)
                if summary.passed >= request.verify || runs >= maximumRuns { break scan }
            }
        }
        return summary
    }
}
