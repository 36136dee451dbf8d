import Autotune
import KernelSpace
import Testing

/// The eager candidate lists of the strategies before they became lazy searches: the oracle the
/// ported searches must reproduce exactly.
private func eagerCandidates(_ strategy: Strategy, space: SearchSpace, problem: Problem, budget: Int?, seed: UInt64)
    -> [Configuration]
{
    let limit = budget ?? Int.max
    var chosen: [Configuration] = []
    var seen = Set<Configuration>()
    func consider(_ configuration: Configuration) {
        guard chosen.count < limit, space.exclusion(configuration, for: problem) == nil,
            seen.insert(configuration).inserted
        else { return }
        chosen.append(configuration)
    }
    consider(space.defaultConfiguration)
    switch strategy {
    case .exhaustive:
        for index in 0..<space.size where chosen.count < limit { consider(space.configuration(at: index)) }
    default:
        // The lazy search's draw cap (``IndexedSearch``): 256 per budgeted configuration, at least 2^18.
        let draws = min(space.size, limit == Int.max ? space.size : max(limit * 256, 1 << 18))
        for index in space.sampleIndices(count: draws, seed: seed) where chosen.count < limit {
            consider(space.configuration(at: index))
        }
    }
    return chosen
}

@Suite struct SearchStrategyTests {
    let template = LinearTemplate()

    @Test(arguments: [(Strategy.random, 50), (.random, 2000), (.exhaustive, 300), (.random, 7)])
    func lazySearchesProposeWhatTheEagerListsHeld(strategy: Strategy, budget: Int) throws {
        let space = SearchSpace(template)
        let problem = try template.parseProblem("M=640,K=2048,N=768")
        for seed: UInt64 in [1, 4] {
            #expect(
                strategy.candidates(in: space, for: problem, budget: budget, seed: seed)
                    == eagerCandidates(strategy, space: space, problem: problem, budget: budget, seed: seed))
        }
    }

    /// Without a budget, random search proposes the whole space once, in a seeded random order
    /// (a slice of it is then a random sample, as `tune-model` takes them).
    @Test func smallSpacesAreWalkedWholeAndCounted() throws {
        let space = SearchSpace(RMSNormTemplate(epsilon: 1e-6))
        let problem = try RMSNormTemplate(epsilon: 1e-6).parseProblem("T=128,H=2048,residual=1")
        let eager = eagerCandidates(.random, space: space, problem: problem, budget: nil, seed: 3)
        var search = Strategy.random.makeSearch(in: space, for: problem, budget: nil, seed: 3)
        var proposed: [Configuration] = []
        while !search.isExhausted { proposed += search.propose(10) }
        #expect(proposed.count == eager.count)
        #expect(Set(proposed.map(\.key)) == Set(eager.map(\.key)))
        #expect(proposed != eager)
        #expect(search.census.considered == space.size)
        #expect(search.census.proposed == eager.count)
    }

    /// At a small problem most of `linear`'s space is refused (column splits at lnc=1, redundant
    /// tiles); a budget of one still finds a valid variant (it looks at up to 2^18 draws, not 256).
    @Test func smallBudgetsFindTheValidPartOfASparseSpace() throws {
        let space = SearchSpace(template)
        let problem = try template.parseProblem("M=64,K=256,N=256")
        for seed: UInt64 in 1...8 {
            let found = Strategy.random.candidates(in: space, for: problem, budget: 1, seed: seed)
            #expect(found.count == 1, "seed \(seed)")
            #expect(found.allSatisfy { space.exclusion($0, for: problem) == nil })
        }
    }

    @Test func proposalsAreBoundedWorkPerCall() throws {
        // A restriction nothing satisfies: each call returns after a bounded scan, and the census
        // names the restriction.
        let space = SearchSpace(
            template, parameters: template.parameters, restrictions: [try Restriction("tile_n > 100000")])
        let problem = try template.parseProblem("M=640,K=2048,N=768,lnc=2")
        var search = Strategy.exhaustive.makeSearch(in: space, for: problem, budget: nil, seed: 0)
        #expect(search.propose(10).isEmpty)
        #expect(!search.isExhausted)
        #expect(search.census.considered <= 20_001)
        #expect(search.census.commonReasons(1).first?.reason == "restriction 'tile_n > 100000' does not hold")
    }
}
