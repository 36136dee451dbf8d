import Autotune
import CostModel
import Foundation
import KernelSpace
import MoEModel

/// One space of the strategy benchmark, swept exhaustively on a "hardware" target: every valid
/// configuration's measured latency (ns).
struct GroundTruth {
    var name: String
    var space: SearchSpace
    var problem: Problem
    /// Measured latency of every valid configuration, by key.
    var latency: [String: Double]
    /// Configurations the restrictions admit but a hardware limit rejects.
    var overLimits: Set<String>

    /// Valid latencies, fastest first.
    var sorted: [Double] { latency.values.sorted() }

    /// Sweeps `space` on `hardware`; each measurement carries log-normal noise of `noise` (fixed per
    /// configuration by `seed`, as one measurement of it would).
    static func sweep(
        _ name: String, space: SearchSpace, problem: Problem, hardware: Target, noise: Double, seed: UInt64
    ) -> GroundTruth {
        let workers = ProcessInfo.processInfo.activeProcessorCount
        let parts = UnsafeMutableBufferPointer<([String: Double], Set<String>)>.allocate(capacity: workers)
        parts.initialize(repeating: ([:], []))
        defer { parts.deallocate() }
        nonisolated(unsafe) let shared = parts
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var found: [String: Double] = [:]
            var over: Set<String> = []
            for index in Swift.stride(from: worker, to: space.size, by: workers) {
                let configuration = space.configuration(at: index)
                guard space.exclusion(configuration, for: problem) == nil else { continue }
                let program = space.template.program(for: problem, configuration: configuration)
                if ResourceCheck.violation(of: program, limits: hardware.limits) != nil {
                    over.insert(configuration.key)
                    continue
                }
                var latency = Timeline.simulate(program, on: hardware).latency
                if noise > 0 { latency *= exp(noise * normal(configuration.key, seed: seed)) }
                found[configuration.key] = latency
            }
            shared[worker] = (found, over)
        }
        var latency: [String: Double] = [:]
        var over: Set<String> = []
        for part in parts {
            latency.merge(part.0) { first, _ in first }
            over.formUnion(part.1)
        }
        return GroundTruth(name: name, space: space, problem: problem, latency: latency, overLimits: over)
    }

    /// A standard normal draw fixed by `key` and `seed` (Box-Muller on SplitMix64).
    static func normal(_ key: String, seed: UInt64) -> Double {
        var hash: UInt64 = seed &* 0x9E37_79B9_7F4A_7C15
        for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        var generator = SplitMix64(seed: hash)
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &generator)
        let u2 = Double.random(in: 0..<1, using: &generator)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }

    /// The expected best latency of random sampling without replacement after `draws` valid
    /// measurements, for every `draws` from 1 to the space's size (exact: the minimum of t draws is
    /// at least the i-th fastest with probability C(N-i+1, t) / C(N, t)).
    func randomExpectation() -> [Double] {
        let values = sorted
        let count = values.count
        var expected = [Double](repeating: 0, count: count + 1)
        for draws in 1...count {
            var atLeast = 1.0  // P(min >= values[i])
            var total = 0.0
            for index in 0..<count {
                let remaining = Double(count - index)
                let next = remaining - 1 >= Double(draws) ? atLeast * (remaining - Double(draws)) / remaining : 0
                total += values[index] * (atLeast - next)
                atLeast = next
                if atLeast < 1e-16 { break }
            }
            expected[draws] = total
        }
        return expected
    }

    /// Kernel Tuner's cache of the sweep.
    func kernelTunerCache(scenario: String) -> String {
        var rows: [CachedMeasurement] = []
        for (key, latency) in latency {
            rows.append(
                CachedMeasurement(
                    configuration: key, measurement: Autotune.Measurement(status: .ok, latency: latency, samples: 1)))
        }
        for key in overLimits {
            rows.append(CachedMeasurement(configuration: key, measurement: .invalid("over a hardware limit")))
        }
        return KernelTunerCache.render(
            rows, space: space, problem: problem,
            scope: CacheScope(
                kernel: space.template.id, problem: problem.key, target: "trn2", backend: scenario, toolchain: "bench"))
    }
}

/// The scores of one strategy on one space.
struct StrategyScore {
    /// Mean normalised performance over the window.
    var performance: Double
    /// Measurements each run needed to come within 1% and 5% of the optimum (nil: not within the budget).
    var toOnePercent: [Int?]
    /// See ``toOnePercent``.
    var toFivePercent: [Int?]

    /// Scores `runs` (each the latencies in measurement order) against random search's expectation.
    init(runs: [[Double]], truth: GroundTruth, random: [Double], window: ClosedRange<Int>) {
        let optimum = truth.sorted[0]
        func best(_ run: [Double], _ draws: Int) -> Double { run.prefix(draws).min() ?? .infinity }
        var total = 0.0
        var counted = 0
        for draws in window where random[draws] > optimum {
            let mean = runs.map { best($0, draws) }.reduce(0, +) / Double(runs.count)
            total += (random[draws] - mean) / (random[draws] - optimum)
            counted += 1
        }
        performance = counted > 0 ? total / Double(counted) : .nan
        func first(_ run: [Double], within fraction: Double) -> Int? {
            run.firstIndex { $0 <= optimum * (1 + fraction) }.map { $0 + 1 }
        }
        toOnePercent = runs.map { first($0, within: 0.01) }
        toFivePercent = runs.map { first($0, within: 0.05) }
    }

    /// `median / 90th percentile`, `>B` where more than that share of runs never got there.
    static func quantiles(_ counts: [Int?], budget: Int) -> String {
        let sorted = counts.map { $0 ?? Int.max }.sorted()
        func at(_ fraction: Double) -> String {
            let value = sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded(.up)))]
            return value == Int.max ? ">\(budget)" : "\(value)"
        }
        return "\(at(0.5))/\(at(0.9))"
    }
}

/// The benchmark of search strategies (README.md, Benchmarks): exhaustive ground truth per space, Kernel
/// Tuner's strategies replayed on it, nkitune's strategies on the same objective, scored by the
/// methodology of Willemsen et al.
enum StrategyBenchmark {
    static let kernelTunerStrategies = [
        "random_sample", "genetic_algorithm", "simulated_annealing", "bayes_opt", "pso", "diff_evo", "greedy_ils",
        "dual_annealing",
    ]
    /// `auto` is `guided` (the default), so it is run once under its own name.
    static let nkituneStrategies: [Strategy] = [.random, .anneal, .genetic, .bayes, .auto]

    static func run(seeds: Int, output: String, python: String?) throws {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let deployment = Deployment(model: .qwen3MoE30BA3B, target: "trn2")
        let tasks = deployment.tasks()
        let linear = LinearTemplate()
        var spaces: [(String, SearchSpace, Problem)] = [
            (
                "linear", try SpaceFile.space(for: linear, in: "bench/spaces"),
                try linear.parseProblem("M=640,K=2048,N=768")
            )
        ]
        for id in ["expert-mlp-decode", "attention-prefill"] {
            guard let task = tasks.first(where: { $0.template.id == id }) else { continue }
            spaces.append((id, SearchSpace(task.template), task.problem))
        }
        // The fused decode blocks at the contest deployment (LNC 2), each in a narrowed space.
        let blocks = deployment.fusedBlocks(.decode)
        for id in ["moe-block-decode", "attention-block-decode"] {
            guard let block = blocks.first(where: { $0.call.template.id == id }) else { continue }
            let template = block.call.template
            spaces.append(
                (template.id, try SpaceFile.space(for: template, in: "bench/spaces"), block.call.problem))
        }
        // NKITUNE_BENCH_SPACES=linear,attention-prefill runs only those spaces.
        spaces = only(spaces, named: "NKITUNE_BENCH_SPACES") { $0.0 }
        // The mismatch scenario's hardware: every inferred constant of trn2 off by up to 30%.
        var generator = SplitMix64(seed: 2026)
        var perturbed: [TargetConstant: Double] = [:]
        for constant in TargetConstant.allCases where Target.trn2.inferred.contains(constant) {
            perturbed[constant] = constant.value(on: .trn2) * Double.random(in: 0.7...1.3, using: &generator)
        }
        var scenarios: [(name: String, hardware: Target, noise: Double)] = [
            ("exact", .trn2, 0), ("mismatch", Target.trn2.applying(perturbed), 0.03),
        ]
        // NKITUNE_BENCH_KT_STRATEGIES=random_sample,pso runs only those of Kernel Tuner's strategies.
        let kernelTuner = only(kernelTunerStrategies, named: "NKITUNE_BENCH_KT_STRATEGIES") { $0 }
        // NKITUNE_BENCH_SCENARIOS=exact runs only that scenario.
        scenarios = only(scenarios, named: "NKITUNE_BENCH_SCENARIOS") { $0.name }
        print("\nStrategy benchmark: \(seeds) seeds per strategy, measurements to the optimum of an exhaustive sweep")
        print(
            "  mismatch hardware: "
                + perturbed.keys.sorted().map { "\($0.rawValue) \(String(format: "%.3g", perturbed[$0]!))" }
                .joined(separator: ", ") + " (trn2 documents "
                + perturbed.keys.sorted().map {
                    String(format: "%.3g", $0.value(on: .trn2))
                }.joined(separator: ", ") + "), 3% log-normal measurement noise")
        // The unperturbed model's sweep: the exact scenario's truth, and what `guided` predicts
        // with in both (looked up rather than simulated again; its refits simulate).
        var models: [String: GroundTruth] = [:]
        for (name, space, problem) in spaces {
            models[name] = GroundTruth.sweep(name, space: space, problem: problem, hardware: .trn2, noise: 0, seed: 7)
        }
        for scenario in scenarios {
            var table: [String: [String: (score: StrategyScore, budget: Int)]] = [:]
            var headers: [String] = []
            for (name, space, problem) in spaces {
                let start = ContinuousClock.now
                let model = models[name]!
                let truth =
                    scenario.name == "exact"
                    ? model
                    : GroundTruth.sweep(
                        name, space: space, problem: problem, hardware: scenario.hardware, noise: scenario.noise,
                        seed: 7)
                let modelGuide = LatencyGuide.performanceModel(space.template, problem, .trn2)
                let guide = LatencyGuide(refit: modelGuide.refit) { model.latency[$0.key] }
                let random = truth.randomExpectation()
                let values = truth.sorted
                let median = values[values.count / 2]
                let optimum = values[0]
                func draws(reaching fraction: Double) -> Int {
                    let cutoff = median - fraction * (median - optimum)
                    return (1...values.count).first { random[$0] <= cutoff } ?? values.count
                }
                let window = draws(reaching: 0.01)...draws(reaching: 0.95)
                // NKITUNE_BENCH_MAX_BUDGET caps the budget, never below the window's end (where P stops).
                let cap = ProcessInfo.processInfo.environment["NKITUNE_BENCH_MAX_BUDGET"].flatMap { Int($0) }
                let budget = min(
                    values.count, max(2 * window.upperBound, 100), max(window.upperBound, cap ?? .max))
                headers.append(name)
                print(
                    "  \(scenario.name) \(name) \(problem.key): \(values.count) valid of \(space.size) "
                        + String(
                            format: "(optimum %.2f us, median %.2f us), window %d-%d measurements, budget %d, "
                                + "swept in %.1f s", optimum / 1e3, median / 1e3, window.lowerBound,
                            window.upperBound, budget, (ContinuousClock.now - start).seconds))
                for strategy in nkituneStrategies {
                    let started = ContinuousClock.now
                    let runs = traces(strategy, truth: truth, budget: budget, seeds: seeds, guide: guide)
                    print(
                        "    nkitune \(strategy.rawValue): \(seeds) runs in "
                            + String(format: "%.1f s", (ContinuousClock.now - started).seconds))
                    let label = strategy == .auto ? "auto (guided)" : strategy.rawValue
                    table["nkitune \(label)", default: [:]][name] = (
                        StrategyScore(runs: runs, truth: truth, random: random, window: window), budget
                    )
                }
                guard let python else { continue }
                let cachePath = "\(output)/\(scenario.name)-\(name).json"
                try truth.kernelTunerCache(scenario: scenario.name).write(
                    toFile: cachePath, atomically: true, encoding: .utf8)
                let replayed = kernelTunerTraces(
                    python: python, cache: cachePath, strategies: kernelTuner, seeds: seeds, budget: budget)
                for (strategy, outcome) in replayed {
                    switch outcome {
                    case .success(let runs):
                        table["kernel_tuner \(strategy)", default: [:]][name] = (
                            StrategyScore(
                                runs: runs.map { $0.map { $0 * 1e6 } }, truth: truth, random: random, window: window),
                            budget
                        )
                    case .failure(let error):
                        print(
                            "  Kernel Tuner's \(strategy) failed on \(name) (\(error.reason)); its row is missing there"
                        )
                    }
                }
            }
            printTable(scenario.name, table: table, spaces: headers)
        }
    }

    /// Why a Kernel Tuner strategy has no traces.
    struct ReplayFailure: Error {
        var reason: String
    }

    /// Each of Kernel Tuner's `strategies` replayed on the cache at `cache`, seeds 1 to `seeds`: one
    /// `bench/kt_strategies.py` process per strategy (each runs on one core), as many at once as
    /// there are cores; each strategy's runs, or why it has none, in the order of `strategies`.
    /// Traces are written beside the cache (`NAME-STRATEGY-traces.json` for `NAME.json`).
    static func kernelTunerTraces(python: String, cache: String, strategies: [String], seeds: Int, budget: Int)
        -> [(strategy: String, outcome: Result<[[Double]], ReplayFailure>)]
    {
        let outcomes = inParallel(strategies.count) { index in
            replay(python: python, cache: cache, strategy: strategies[index], seeds: seeds, budget: budget)
        }
        return Array(zip(strategies, outcomes))
    }

    /// `body` of 0 ..< `count` on all cores, the results in index order.
    static func inParallel<Value>(_ count: Int, _ body: @Sendable (Int) -> Value) -> [Value] {
        let results = UnsafeMutableBufferPointer<Value?>.allocate(capacity: count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        nonisolated(unsafe) let shared = results
        DispatchQueue.concurrentPerform(iterations: count) { shared[$0] = body($0) }
        return results.map { $0! }
    }

    /// One of Kernel Tuner's strategies replayed on the cache at `cache` in a process of its own.
    static func replay(python: String, cache: String, strategy: String, seeds: Int, budget: Int)
        -> Result<[[Double]], ReplayFailure>
    {
        let tracePath = String(cache.dropLast(".json".count)) + "-\(strategy)-traces.json"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            "bench/kt_strategies.py", cache, "--strategies", strategy, "--seeds", "\(seeds)", "--max-fevals",
            "\(budget)", "--out", tracePath,
        ]
        do { try process.run() } catch { return .failure(ReplayFailure(reason: "\(python) did not start: \(error)")) }
        process.waitUntilExit()
        guard process.terminationStatus == 0, let data = FileManager.default.contents(atPath: tracePath),
            let written = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return .failure(ReplayFailure(reason: "exit status \(process.terminationStatus)")) }
        if let error = (written["failures"] as? [String: String])?[strategy] {
            return .failure(ReplayFailure(reason: error))
        }
        guard let runs = (written["traces"] as? [String: [[Double]]])?[strategy] else {
            return .failure(ReplayFailure(reason: "no traces in \(tracePath)"))
        }
        return .success(runs)
    }

    /// The items whose names the environment variable `variable` lists (comma-separated), or all
    /// of them when it is not set.
    static func only<Item>(_ items: [Item], named variable: String, _ name: (Item) -> String) -> [Item] {
        guard let names = ProcessInfo.processInfo.environment[variable]?.split(separator: ",") else { return items }
        return items.filter { names.contains(Substring(name($0))) }
    }

    /// Runs of `strategy` with seeds 1 through `seeds`, on all cores.
    static func traces(_ strategy: Strategy, truth: GroundTruth, budget: Int, seeds: Int, guide: LatencyGuide)
        -> [[Double]]
    {
        inParallel(seeds) { index in
            trace(strategy, truth: truth, budget: budget, seed: UInt64(index + 1), guide: guide)
        }
    }

    /// One run of an nkitune strategy against the ground truth: the latencies of the valid
    /// configurations it measured, in order (over-limit ones cost nothing, as in `tune`).
    static func trace(_ strategy: Strategy, truth: GroundTruth, budget: Int, seed: UInt64, guide: LatencyGuide)
        -> [Double]
    {
        var search = strategy.makeSearch(
            in: truth.space, for: truth.problem, budget: nil, seed: seed, target: .trn2, guide: guide)
        var measured: [Double] = []
        while !search.isExhausted && measured.count < budget {
            let proposals = search.propose(search.preferredBatchSize ?? 16)
            if proposals.isEmpty { continue }
            var results: [(configuration: Configuration, measurement: Autotune.Measurement)] = []
            for configuration in proposals {
                if let latency = truth.latency[configuration.key] {
                    results.append((configuration, Autotune.Measurement(status: .ok, latency: latency, samples: 1)))
                    if measured.count < budget { measured.append(latency) }
                } else {
                    results.append((configuration, Autotune.Measurement.invalid("over a hardware limit")))
                }
            }
            search.observe(results)
        }
        return measured
    }

    static func printTable(
        _ scenario: String, table: [String: [String: (score: StrategyScore, budget: Int)]], spaces: [String]
    ) {
        print("\n  Scenario \(scenario): P score (mean over the window; 1 = optimum at once, 0 = random search),")
        print("  measurements to within 1% and 5% of the optimum (median/90th percentile over seeds)")
        var header = pad("strategy", 32)
        for space in spaces { header += " | " + pad(space, 30) }
        header += " | " + pad("mean P", 7, right: true)
        print("  " + header)
        let rows = table.keys.sorted { (mean(table[$0]!, spaces) ?? -9) > (mean(table[$1]!, spaces) ?? -9) }
        for row in rows {
            var line = pad(row, 32)
            for space in spaces {
                guard let cell = table[row]![space] else {
                    line += " | " + pad("-", 30)
                    continue
                }
                let text =
                    String(format: "P %5.2f", cell.score.performance) + "  1%: "
                    + StrategyScore.quantiles(cell.score.toOnePercent, budget: cell.budget) + "  5%: "
                    + StrategyScore.quantiles(cell.score.toFivePercent, budget: cell.budget)
                line += " | " + pad(text, 30)
            }
            line += " | " + pad(mean(table[row]!, spaces).map { String(format: "%.3f", $0) } ?? "-", 7, right: true)
            print("  " + line)
        }
    }

    static func mean(_ cells: [String: (score: StrategyScore, budget: Int)], _ spaces: [String]) -> Double? {
        let values = spaces.compactMap { cells[$0]?.score.performance }
        return values.count == spaces.count ? values.reduce(0, +) / Double(values.count) : nil
    }
}
