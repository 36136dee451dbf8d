import Autotune
import CostModel
import Foundation
import KernelSpace
import Testing

/// The strategies that learn from results: they must propose every valid configuration at most
/// once, be reproducible, and beat random search on the same budget.
@Suite struct LearningSearchTests {
    static let learning: [Strategy] = [.anneal, .genetic, .bayes, .guided]

    /// Runs a search to its end (or budget), answering with the performance model; returns the
    /// proposals in order and the latencies seen.
    static func drive(
        _ strategy: Strategy, _ space: SearchSpace, _ problem: Problem, budget: Int?, seed: UInt64, batch: Int = 8
    ) -> (proposals: [Configuration], best: Double) {
        var search = strategy.makeSearch(in: space, for: problem, budget: budget, seed: seed)
        let backend = ModelBackend(slots: 1)
        var proposals: [Configuration] = []
        var best = Double.infinity
        var idle = 0
        while !search.isExhausted && idle < 1000 {
            let batch = search.propose(batch)
            idle = batch.isEmpty ? idle + 1 : 0
            proposals += batch
            let results = batch.map {
                configuration -> (configuration: Configuration, measurement: Autotune.Measurement) in
                let variant = Variant(
                    template: space.template, problem: problem, configuration: configuration, target: .trn2)
                switch backend.compile(variant) {
                case .success(let compiled): return (configuration, backend.measure(compiled, slot: 0))
                case .failure(let early): return (configuration, early.measurement)
                }
            }
            for (_, measurement) in results where measurement.status == .ok { best = min(best, measurement.latency!) }
            search.observe(results)
        }
        return (proposals, best)
    }

    @Test(arguments: learning)
    func aSmallSpaceIsCoveredOnceAndOnlyValidIsProposed(strategy: Strategy) throws {
        let template = RMSNormTemplate(epsilon: 1e-6)
        let space = SearchSpace(template)
        let problem = try template.parseProblem("T=128,H=2048,residual=1")
        let valid = Set(Strategy.exhaustive.candidates(in: space, for: problem, budget: nil, seed: 1).map(\.key))
        let (proposals, _) = Self.drive(strategy, space, problem, budget: nil, seed: 5)
        let keys = proposals.map(\.key)
        #expect(Set(keys).count == keys.count, "\(strategy) proposed a configuration twice")
        if strategy == .guided {
            // Guided never proposes what the model says breaks a hardware limit.
            #expect(Set(keys).isSubset(of: valid))
        } else {
            #expect(Set(keys) == valid, "\(strategy) left \(valid.count - Set(keys).count) configurations out")
        }
        if strategy == .guided {
            // Its best prediction first, then the default (the speedups' baseline).
            #expect(proposals.prefix(2).contains(space.defaultConfiguration))
        } else {
            #expect(proposals.first == space.defaultConfiguration)
        }
    }

    /// Against the performance model itself, guided's first measurement is the optimum of a space
    /// it ranks whole; the default comes second.
    @Test func guidedMeasuresItsBestPredictionFirst() throws {
        let template = ExpertMLPDecodeTemplate()
        let problem = try template.parseProblem("T=1,H=2048,I=192,E=128,k=8,lnc=2")
        let space = SearchSpace(template)
        let latency = { (configuration: Configuration) in
            Timeline.simulate(template.program(for: problem, configuration: configuration), on: .trn2).latency
        }
        let fastest = Strategy.exhaustive.candidates(in: space, for: problem, budget: nil, seed: 1).map(latency).min()
        let proposals = Self.drive(.guided, space, problem, budget: 4, seed: 2).proposals
        let first = try #require(proposals.first)
        #expect(latency(first) == fastest)
        #expect(proposals.dropFirst().first == space.defaultConfiguration)
    }

    @Test(arguments: learning)
    func theSameSeedGivesTheSameSearch(strategy: Strategy) throws {
        let template = LinearTemplate()
        let problem = try template.parseProblem("M=256,K=1024,N=512")
        let space = SearchSpace(template)
        let first = Self.drive(strategy, space, problem, budget: 60, seed: 3)
        let again = Self.drive(strategy, space, problem, budget: 60, seed: 3)
        #expect(first.proposals == again.proposals)
        #expect(first.proposals.count == 60)
        let other = Self.drive(strategy, space, problem, budget: 60, seed: 4)
        #expect(other.proposals != first.proposals || strategy == .guided)
    }

    /// Over three seeds, each learning strategy's best after 150 measurements beats random
    /// search's on average (the model backend is the objective).
    @Test(arguments: learning)
    func learningBeatsRandomOnTheSameBudget(strategy: Strategy) throws {
        let template = LinearTemplate()
        let problem = try template.parseProblem("M=640,K=2048,N=768")
        let space = SearchSpace(template)
        let seeds: [UInt64] = [1, 2, 3]
        let learned = seeds.map { Self.drive(strategy, space, problem, budget: 150, seed: $0).best }.reduce(0, +)
        let random = seeds.map { Self.drive(.random, space, problem, budget: 150, seed: $0).best }.reduce(0, +)
        #expect(learned < random, "\(strategy): \(learned / 3) ns against random's \(random / 3) ns")
    }

    @Test func autoSweepsTheValidSpaceWhenTheBudgetCoversItBestPredictedFirst() throws {
        let attention = AttentionPrefillTemplate()
        let problem = try attention.parseProblem("S=640,heads=16,kv_heads=2,d=128")
        let space = SearchSpace(attention)
        let valid = Strategy.exhaustive.candidates(in: space, for: problem, budget: nil, seed: 1).filter {
            ResourceCheck.violation(of: attention.program(for: problem, configuration: $0), limits: Target.trn2.limits)
                == nil
        }
        let auto = Strategy.auto.candidates(in: space, for: problem, budget: nil, seed: 1)
        #expect(auto.count == valid.count && Set(auto.map(\.key)) == Set(valid.map(\.key)))
        #expect(auto.dropFirst().first == space.defaultConfiguration)
        let predicted = auto.filter { $0 != space.defaultConfiguration }.map {
            Timeline.simulate(attention.program(for: problem, configuration: $0), on: .trn2).latency
        }
        #expect(predicted == predicted.sorted(), "in predicted order, the default second")
        let linear = LinearTemplate()
        let big = try linear.parseProblem("M=640,K=2048,N=768")
        let guided = Self.drive(.guided, SearchSpace(linear), big, budget: 20, seed: 1).proposals
        #expect(Self.drive(.auto, SearchSpace(linear), big, budget: 20, seed: 1).proposals == guided)
    }

    /// The performance model's guide refits by calibrating its inferred constants: fitted to 32
    /// variants measured on "hardware" whose DMA constants differ from the model's, it predicts 32
    /// other variants at least twice as well as before.
    @Test func aRefittedGuidePredictsMismatchedHardwareBetter() throws {
        let template = LinearTemplate()
        let problem = try template.parseProblem("M=640,K=2048,N=768")
        let hardware = Target.trn2.applying([.dmaQueuesPerStream: 3, .dmaQueueOverlap: 2.5, .dmaEfficiencyShift: 1.6])
        let variants = Strategy.random.candidates(in: SearchSpace(template), for: problem, budget: 64, seed: 9).filter {
            ResourceCheck.violation(of: template.program(for: problem, configuration: $0), limits: hardware.limits)
                == nil
        }
        func measure(_ configuration: Configuration) -> Double {
            Timeline.simulate(template.program(for: problem, configuration: configuration), on: hardware).latency
        }
        let guide = LatencyGuide.performanceModel(template, problem, .trn2)
        let refit = try #require(guide.refit)
        let refitted = refit(variants.prefix(32).map { ($0, measure($0)) })
        func rms(_ guide: LatencyGuide) -> Double {
            let errors = variants.dropFirst(32).map { log(guide.predict($0)! / measure($0)) }
            return (errors.map { $0 * $0 }.reduce(0, +) / Double(errors.count)).squareRoot()
        }
        #expect(variants.count > 40)
        #expect(rms(refitted) < rms(guide) / 2, "RMS log error \(rms(refitted)) refitted, \(rms(guide)) before")
    }

    /// Guided grows its ranked pool in doubling chunks up to a limit; a run of many small batches
    /// (each call a growth step) goes on to its budget.
    @Test func guidedRunsManySmallBatchesToItsBudget() throws {
        let template = LinearTemplate()
        let problem = try template.parseProblem("M=640,K=2048,N=768")
        let run = Self.drive(.guided, SearchSpace(template), problem, budget: 80, seed: 2, batch: 1)
        #expect(run.proposals.count == 80)
        #expect(Set(run.proposals.map(\.key)).count == 80)
    }

    /// A guide whose latency counts the parameters that differ from one valid configuration: a random
    /// pool's best still differs in several, and guided's hill climb from it (one value changed at a
    /// time) comes closer within its first proposals.
    @Test func guidedClimbsFromThePoolsBest() throws {
        let template = LinearTemplate()
        let space = SearchSpace(template)
        let problem = try template.parseProblem("M=640,K=2048,N=768")
        let sample = Strategy.random.candidates(in: space, for: problem, budget: 4097, seed: 11)
        let target = try #require(sample.last)
        let differences: @Sendable (Configuration) -> Int = { configuration in
            zip(configuration.values, target.values).filter { $0 != $1 }.count
        }
        let randomBest = try #require(sample.dropLast().map(differences).min())
        let guide = LatencyGuide { 1000 + Double(differences($0)) }
        var search = Strategy.guided.makeSearch(in: space, for: problem, budget: 16, seed: 3, guide: guide)
        let guidedBest = try #require(search.propose(8).map(differences).min())
        #expect(guidedBest < randomBest, "guided \(guidedBest), best of 4096 random draws \(randomBest)")
    }

    /// From a start the caller gives, the climb tries pairs where single moves stop: stationary
    /// weights alone are slower and tiles in K alone are refused, so only the pair reaches the
    /// fastest point. Without the start, the pool's best and its single-move climb do not.
    @Test func guidedClimbsFromAStartByPairs() throws {
        let template = LinearTemplate()
        let space = SearchSpace(template)
        let problem = try template.parseProblem("M=1,K=2048,N=1024")
        let (operand, order) = ("w_operand", "k_order")
        func with(_ configuration: Configuration, _ values: [String: ParameterValue]) -> Configuration {
            Configuration(
                names: configuration.names,
                values: zip(configuration.names, configuration.values).map { values[$0] ?? $1 })
        }
        // The default with all of K in one block of 128-row tiles: moving weights, where stationary
        // weights are valid in either order.
        let start = with(
            space.defaultConfiguration,
            ["tile_m": .int(32), "tile_k": .int(128), "block_k": .int(16), "x_layout": .choice("tensor_transpose")])
        #expect(template.restriction(start, for: problem) == nil)
        #expect(template.restriction(with(start, [operand: .choice("stationary")]), for: problem) == nil)
        #expect(
            template.restriction(with(start, [operand: .choice("stationary"), order: .choice("tiles")]), for: problem)
                == nil)
        #expect(template.restriction(with(start, [order: .choice("tiles")]), for: problem) != nil)
        let others = start.names.filter { $0 != operand && $0 != order }
        let guide = LatencyGuide { configuration in
            guard others.allSatisfy({ configuration[$0] == start[$0] }) else { return 10 }
            switch (configuration[operand], configuration[order]) {
            case (.choice("stationary"), .choice("tiles")): return 1
            case (.choice("stationary"), _): return 12
            default: return 5
            }
        }
        var started = Strategy.guided.makeSearch(in: space, for: problem, budget: 4, seed: 5, guide: guide)
        started.start(from: [start])
        let first = try #require(started.propose(1).first)
        #expect(first[operand] == .choice("stationary"))
        #expect(first[order] == .choice("tiles"))
        #expect(others.allSatisfy { first[$0] == start[$0] })

        var unstarted = Strategy.guided.makeSearch(in: space, for: problem, budget: 4, seed: 5, guide: guide)
        #expect(unstarted.propose(1).first.map(guide.predict) != 1)
    }

    /// From a start, a move of a fused block's own parameter is tried with each single move of the
    /// rest: here the guide rewards a pair of moves that are each valid but slower alone.
    @Test func guidedClimbsFromAStartByBlockPairs() throws {
        let block = AttentionBlockDecodeTemplate(epsilon: 1e-6, ropeTheta: 1e6)
        let space = SearchSpace(block)
        let problem = try block.parseProblem("H=256,S=200,heads=4,kv_heads=1,d=64")
        let start = try #require(Strategy.random.candidates(in: space, for: problem, budget: 1, seed: 4).first)
        func with(_ name: String, _ value: ParameterValue, _ configuration: Configuration) -> Configuration {
            Configuration(
                names: configuration.names,
                values: zip(configuration.names, configuration.values).map { $0 == name ? value : $1 })
        }
        func valid(_ configuration: Configuration) -> Bool { block.restriction(configuration, for: problem) == nil }
        let handoff = "handoff"
        let moved = try #require(
            space.parameters.first { $0.name == handoff }?.domain.values.first {
                $0 != start[handoff] && valid(with(handoff, $0, start))
            })
        let (name, value) = try #require(
            space.parameters.lazy.filter { $0.name != handoff }.compactMap { parameter in
                parameter.domain.values.first {
                    $0 != start[parameter.name] && valid(with(parameter.name, $0, start))
                        && valid(with(parameter.name, $0, with(handoff, moved, start)))
                }.map { (parameter.name, $0) }
            }.first)
        let others = start.names.filter { $0 != handoff && $0 != name }
        let guide = LatencyGuide { configuration in
            guard others.allSatisfy({ configuration[$0] == start[$0] }) else { return 10 }
            switch (configuration[handoff] == moved, configuration[name] == value) {
            case (true, true): return 1
            case (false, false): return 5
            default: return 12
            }
        }
        var search = Strategy.guided.makeSearch(in: space, for: problem, budget: 4, seed: 5, guide: guide)
        search.start(from: [start])
        let first = try #require(search.propose(1).first)
        #expect(first[handoff] == moved)
        #expect(first[name] == value)
    }
}
