import Autotune
import CostModel
import KernelSpace
import Testing

/// `linear` declaring that no parameter changes numerics: a template whose declaration is wrong,
/// which only the bit-for-bit comparison can catch.
private struct MisdeclaredLinear: KernelTemplate {
    let base = LinearTemplate()
    var id: String { "linear-misdeclared" }
    var summary: String { base.summary }
    var problemFields: [ProblemField] { base.problemFields }
    var parameters: [Parameter] { base.parameters }
    var numericParameters: Set<String> { [] }
    var checkProblems: [String] { base.checkProblems }
    var demoProblem: String { base.demoProblem }
    func restriction(_ configuration: Configuration, for problem: Problem) -> String? {
        base.restriction(configuration, for: problem)
    }
    func program(for problem: Problem, configuration: Configuration) -> KernelProgram {
        base.program(for: problem, configuration: configuration)
    }
    func inputs(for problem: Problem, seed: UInt64) -> [HostTensor] { base.inputs(for: problem, seed: seed) }
    func arguments(_ inputs: [HostTensor], problem: Problem, configuration: Configuration) -> [HostTensor] {
        base.arguments(inputs, problem: problem, configuration: configuration)
    }
    func reference(for problem: Problem, inputs: [HostTensor]) -> [HostTensor] {
        base.reference(for: problem, inputs: inputs)
    }
    func macs(for problem: Problem) -> Int { base.macs(for: problem) }
    func checkProblem(for problem: Problem, configuration: Configuration) -> Problem {
        base.checkProblem(for: problem, configuration: configuration)
    }
}

@Suite struct VerifierTests {
    let template = LinearTemplate()

    func driver() throws -> Driver {
        Driver(backend: ModelBackend(slots: 2), cache: try TimingCache(path: temporaryPath("cache.sqlite")))
    }

    /// Issue: `tune --exact` (or a narrowed space) marked correct, never-checked fast variants failed
    /// because they were outside its space. Variants outside the space must be left untouched.
    @Test func variantsOutsideTheSpaceAreNeverJudged() throws {
        let driver = try driver()
        let problem = try template.parseProblem("M=640,K=2048,N=768")
        let wide = TuneRequest(
            space: SearchSpace(template), problem: problem, target: .trn2, budget: 300, jobs: 2, verify: 0)
        _ = try driver.tune(wide)
        let scope = driver.scope(for: wide)
        let before = try driver.cache.best(in: scope, limit: 20)
        #expect(before.allSatisfy { $0.check == nil })
        let space = SearchSpace(template)
        let exact = TuneRequest(
            space: space.exact(to: space.defaultConfiguration), problem: problem, target: .trn2, budget: 300, jobs: 2,
            verify: 3)
        let summary = try driver.tune(exact)
        #expect(summary.verification.wrong == 0)
        #expect(summary.verification.notExact == 0)
        #expect(summary.verification.passed == 3)
        #expect(try driver.cache.counts(in: scope)[.failed, default: 0] == 0)
        let after = try driver.cache.best(in: scope, limit: 20)
        #expect(after.map(\.configuration) == before.map(\.configuration))
        #expect(after.map(\.measurement.latency) == before.map(\.measurement.latency))
        var narrowed = SearchSpace(template)
        // Every tile_n but the fastest variant's: the variants to verify lie outside the space.
        let fastest = try #require(
            before.first?.configuration.split(separator: ",").first { $0.hasPrefix("tile_n=") }
                .flatMap { Int($0.dropFirst("tile_n=".count)) })
        narrowed.parameters = narrowed.parameters.map { parameter in
            guard parameter.name == "tile_n" else { return parameter }
            var copy = parameter
            copy.domain = .ints([128, 256, 512].filter { $0 != fastest })
            return copy
        }
        let narrow = TuneRequest(space: narrowed, problem: problem, target: .trn2, budget: 50, jobs: 2, verify: 2)
        let narrowSummary = try driver.tune(narrow)
        #expect(narrowSummary.verification.outsideSpace > 0)
        #expect(try driver.cache.counts(in: scope)[.failed, default: 0] == 0)
        #expect(try driver.cache.best(in: scope, limit: 1).first?.configuration == before.first?.configuration)
    }

    /// `--exact` runs the fastest variants against the reference bit for bit: a variant declared
    /// exact that differs is marked failed with the first differing element.
    @Test func declaredExactButDifferentIsCaughtBitForBit() throws {
        let driver = try driver()
        let misdeclared = MisdeclaredLinear()
        let problem = try misdeclared.parseProblem("M=128,K=1024,N=512,dtype=fp32")
        let space = SearchSpace(misdeclared)
        // Matmuls over 64 rows of K: the fastest variants contract 128 at a time, another order.
        let reference = try space.parse("tile_k=64,block_k=16,tile_n=512")
        let request = TuneRequest(
            space: space.exact(to: reference), problem: problem, target: .trn2, budget: 400, jobs: 2, verify: 3)
        let summary = try driver.tune(request)
        #expect(summary.verification.notExact > 0)
        #expect(summary.verification.passed == 3)
        let scope = driver.scope(for: request)
        let verified = try driver.cache.best(in: scope, limit: 3, exactTo: reference.key)
        for entry in verified {
            #expect(entry.exactVerdict == .identical)
            let configuration = try SearchSpace(template).parse(entry.configuration)
            #expect(
                NumericCheck.bitExact(template, problem: problem, configuration: configuration, reference: reference)
                    .exact)
        }
        let failed = try driver.cache.measurements(
            of: Strategy.random.candidates(in: request.space, for: problem, budget: 400, seed: 1).map(\.key),
            in: scope
        ).values.filter { $0.exactVerdict == .different }
        #expect(failed.count == summary.verification.notExact)
        for entry in failed {
            #expect(entry.measurement.status == .failed)
            #expect(entry.measurement.reason?.contains("not bit-exact to the reference") == true)
            #expect(entry.measurement.reason?.contains("element") == true)
        }
    }
}
