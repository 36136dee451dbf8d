import Autotune
import CostModel
import Foundation
import KernelSpace
import Synchronization
import Testing

func temporaryPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("nkitune-\(UUID().uuidString)/\(name)").path
}

@Suite struct DriverTests {
    let template = LinearTemplate()

    func request(budget: Int, seed: UInt64 = 1, verify: Int = 1) throws -> TuneRequest {
        TuneRequest(
            space: SearchSpace(template), problem: try template.parseProblem("M=640,K=2048,N=768"), target: .trn2,
            strategy: .random, budget: budget, seed: seed, jobs: 2, verify: verify)
    }

    @Test func rerunMeasuresNothingAndKeepsTheBest() throws {
        let cache = try TimingCache(path: temporaryPath("cache.sqlite"))
        let driver = Driver(backend: ModelBackend(slots: 2), cache: cache)
        let first = try driver.tune(try request(budget: 300))
        #expect(first.candidates == 300)
        #expect(first.evaluated.values.reduce(0, +) == 300)
        #expect(first.evaluated[.ok, default: 0] > 200)
        #expect(first.best.first?.check == .passed)
        let second = try driver.tune(try request(budget: 300))
        #expect(second.cached == 300)
        #expect(second.evaluated.isEmpty)
        #expect(second.best.map(\.configuration) == first.best.map(\.configuration))
        #expect(second.best.map(\.measurement.latency) == first.best.map(\.measurement.latency))
    }

    @Test func interruptedRunResumesWithoutLoss() throws {
        let path = temporaryPath("cache.sqlite")
        let driver = Driver(backend: ModelBackend(slots: 2), cache: try TimingCache(path: path))
        // `shouldStop` is polled before every variant (so a stop loses at most the variants in
        // flight): stop after a few hundred polls, part-way through the run.
        let polls = Atomic<Int>(0)
        let partial = try driver.tune(try request(budget: 700, verify: 0)) {
            polls.add(1, ordering: .relaxed).newValue > 300
        }
        #expect(partial.interrupted)
        let saved = partial.evaluated.values.reduce(0, +)
        #expect(saved > 0 && saved < 700)
        // A new process: reopen the file.
        let resumed = try Driver(backend: ModelBackend(slots: 2), cache: try TimingCache(path: path))
            .tune(try request(budget: 700, verify: 0))
        #expect(resumed.cached == saved)
        #expect(resumed.evaluated.values.reduce(0, +) == 700 - saved)
        let scope = driver.scope(for: try request(budget: 700))
        #expect(try TimingCache(path: path).configurations(in: scope).count == 700)
    }

    @Test func aRunWhoseTimeIsUpStopsSearchingKeepsWhatItMeasuredAndStillChecks() throws {
        let path = temporaryPath("cache.sqlite")
        let driver = Driver(backend: ModelBackend(slots: 2), cache: try TimingCache(path: path))
        var timed = try request(budget: 5000, verify: 1)
        timed.time = 2
        let summary = try driver.tune(timed)
        #expect(summary.timeUp && !summary.interrupted)
        let measured = summary.evaluated.values.reduce(0, +)
        #expect(measured > 0 && measured < 5000)
        #expect(try TimingCache(path: path).configurations(in: driver.scope(for: timed)).count == measured)
        #expect(summary.verification.checked == 1)
    }

    @Test func strategiesAreReproducible() throws {
        let space = SearchSpace(template)
        let problem = try template.parseProblem("M=640,K=2048,N=768")
        let a = Strategy.random.candidates(in: space, for: problem, budget: 50, seed: 4)
        let b = Strategy.random.candidates(in: space, for: problem, budget: 50, seed: 4)
        let c = Strategy.random.candidates(in: space, for: problem, budget: 50, seed: 5)
        #expect(a == b)
        #expect(a != c)
        #expect(a.first == space.defaultConfiguration)
        #expect(a.allSatisfy { template.restriction($0, for: problem) == nil })
        // Walked whole: the parameters added since the space was ~3M configurations held at their
        // defaults, so the walk stays seconds long.
        let walked = SearchSpace(
            template,
            parameters: template.parameters.map { parameter in
                var held = parameter
                if ["split", "w_resident", "w_operand", "k_order"].contains(parameter.name),
                    case .choice(let value) = parameter.defaultValue
                {
                    held.domain = .choices([value])
                }
                return held
            })
        let small = try template.parseProblem("M=32,K=32,N=128")
        let all = Strategy.exhaustive.candidates(in: walked, for: small, budget: nil, seed: 0)
        #expect(all.count == Set(all).count)
        #expect(all.count > 100)
    }

    @Test func invalidVariantsAreStoredWithTheirReason() throws {
        let cache = try TimingCache(path: temporaryPath("cache.sqlite"))
        let driver = Driver(backend: ModelBackend(slots: 1), cache: cache)
        let problem = try template.parseProblem("M=4096,K=8192,N=8192")
        let space = SearchSpace(
            template,
            parameters: template.parameters.map { parameter in
                var narrowed = parameter
                switch parameter.name {
                case "block_m": narrowed.domain = .ints([16])
                case "block_k": narrowed.domain = .ints([8])
                case "block_n": narrowed.domain = .ints([2])
                case "loop_order": narrowed.domain = .choices(["nkm"])
                case "x_bufs", "w_bufs": narrowed.domain = .ints([3])
                case "acc_dtype": narrowed.domain = .choices(["fp32"])
                case "evict_engine": narrowed.domain = .choices(["vector"])
                case "x_layout": narrowed.domain = .choices(["pretransposed"])
                default: break
                }
                return narrowed
            })
        let request = TuneRequest(
            space: space, problem: problem, target: .trn2, strategy: .exhaustive, budget: 1, jobs: 1, verify: 0)
        let summary = try driver.tune(request)
        #expect(summary.evaluated[.invalid] == 1)
        let key = space.defaultConfiguration.key
        let stored = try cache.measurement(configuration: key, in: driver.scope(for: request))
        #expect(stored?.measurement.status == .invalid)
        #expect(stored?.measurement.reason == "needs 280,576 B of SBUF per partition; trn2 has 212,728")
    }
}

@Suite struct TimingCacheTests {
    @Test func foreignFileIsRefusedAndLeftIntact() throws {
        let path = temporaryPath("cache.sqlite")
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let content = Data("these are not the timings you are looking for\n".utf8)
        try content.write(to: URL(fileURLWithPath: path))
        #expect(throws: AutotuneError(.cache, "cache \(path) is not an SQLite database; it was left untouched")) {
            try TimingCache(path: path)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == content)
    }

    @Test func unwritableLocationIsReported() {
        #expect(throws: AutotuneError.self) { try TimingCache(path: "/proc/nkitune-nowhere/cache.sqlite") }
    }

    @Test func rowsRoundTrip() throws {
        let cache = try TimingCache(path: temporaryPath("cache.sqlite"))
        let scope = CacheScope(kernel: "linear", problem: "M=1", target: "trn2", backend: "model", toolchain: "t1")
        let fast = Measurement(
            status: .ok, latency: 10, latencyMin: 10, latencyMax: 10, samples: 1, busy: [.dma: 4, .tensor: 3],
            metrics: ["dma_bytes": 100])
        try cache.insert(
            [("a=1", Measurement(status: .ok, latency: 20, samples: 1)), ("a=2", fast), ("a=3", .invalid("too big"))],
            in: scope)
        let best = try cache.best(in: scope, limit: 5)
        #expect(best.map(\.configuration) == ["a=2", "a=1"])
        #expect(best[0].measurement.busy == [.dma: 4, .tensor: 3])
        #expect(best[0].measurement.boundEngine == .dma)
        #expect(best[0].measurement.metrics == ["dma_bytes": 100])
        try cache.recordCheck(configuration: "a=2", in: scope, status: .failed, error: 0.5, reason: "wrong answer")
        #expect(try cache.best(in: scope, limit: 5).map(\.configuration) == ["a=1"])
        #expect(try cache.counts(in: scope) == [.ok: 1, .invalid: 1, .failed: 1])
        let other = CacheScope(kernel: "linear", problem: "M=1", target: "trn2", backend: "model", toolchain: "t2")
        #expect(try cache.configurations(in: other).isEmpty)
    }
}

@Suite struct VariantIdentityTests {
    /// A timing is keyed by its program's digest as well as its configuration: rows measured on a
    /// program the template no longer builds are never served and are measured anew.
    @Test func aChangedProgramIsMeasuredAnewAndNeverServedStale() throws {
        let template = LinearTemplate()
        let driver = Driver(backend: ModelBackend(slots: 2), cache: try TimingCache(path: temporaryPath("c.sqlite")))
        let request = TuneRequest(
            space: SearchSpace(template), problem: try template.parseProblem("M=640,K=2048,N=768"), target: .trn2,
            budget: 100, jobs: 2, verify: 1)
        let first = try driver.tune(request)
        let scope = driver.scope(for: request)
        let keys = Strategy.random.candidates(in: request.space, for: request.problem, budget: 100, seed: 1).map(\.key)
        let stored = try driver.cache.measurements(of: keys, in: scope)
        #expect(stored.count == 100)
        let digest = template.program(for: request.problem, configuration: try request.space.parse(keys[0])).digest
        #expect(stored[keys[0]]?.programDigest == digest)
        #expect(digest.count == 16)
        // As if the builder had changed: every row was measured on another program.
        try driver.cache.insert(
            stored.values.map { ($0.configuration, $0.measurement) }, in: scope, digest: { _ in "0123456789abcdef" })
        let resolver = VariantResolver(
            space: request.space, problem: request.problem, target: .trn2, cache: driver.cache, backend: driver.backend)
        #expect(try resolver.fastest(limit: 5).isEmpty)
        #expect(try driver.cache.best(in: scope, limit: 1).first?.check == nil)
        let second = try driver.tune(request)
        #expect(second.cached == 0)
        #expect(second.evaluated.values.reduce(0, +) == 100)
        #expect(second.best.first?.configuration == first.best.first?.configuration)
        #expect(second.best.first?.programDigest != "0123456789abcdef")
        #expect(try driver.tune(request).cached == 100)
    }
}
