import KernelSpace
import Testing

/// The fused decode MoE block: one program chained from the stages' programs.
@Suite struct MoEBlockDecodeTests {
    let block = MoEBlockDecodeTemplate(epsilon: 1e-6, normaliseTopK: true)

    /// The stages' own programs run one after another on the interpreter: the residual sum and the
    /// experts' sum.
    func unfused(_ problem: Problem, _ configuration: Configuration, _ inputs: [HostTensor]) throws -> [HostTensor] {
        let problems = block.problems(problem)
        func run(_ template: any KernelTemplate, _ stage: Int, _ stageProblem: Problem, _ inputs: [HostTensor]) throws
            -> [HostTensor]
        {
            let configuration = block.configuration(of: stage, configuration, for: problem)
            return try Interpreter.run(
                template.program(for: stageProblem, configuration: configuration),
                inputs: template.arguments(inputs, problem: stageProblem, configuration: configuration))
        }
        let (norm, router, experts) = (block.stages[0].template, block.stages[1].template, block.stages[2].template)
        let normed = try run(norm, 0, problems.norm, [inputs[0], inputs[1], inputs[2]])
        let routed = try run(router, 1, problems.router, [normed[0], inputs[3]])
        let summed = try run(experts, 2, problems.experts, [normed[0], inputs[4], inputs[5], routed[1], routed[0]])
        return [normed[1], summed[0]]
    }

    /// Every sampled configuration, on one core and on two: the fused kernel's output is bit for bit
    /// the unfused chain's, and within tolerance of the reference.
    @Test(arguments: ["T=1,H=256,I=96,E=16,k=4", "T=2,H=128,I=64,E=8,k=2,lnc=2"])
    func theFusedBlockIsBitForBitTheUnfusedChain(text: String) throws {
        let problem = try block.parseProblem(text)
        let inputs = block.inputs(for: problem, seed: 11)
        let expected = block.reference(for: problem, inputs: inputs)
        let configurations = validConfigurations(SearchSpace(block), problem, limit: 12, seed: 2)
        #expect(configurations.count == 12)
        var cores = Set<Int>()
        for configuration in configurations {
            let program = block.program(for: problem, configuration: configuration)
            cores.insert(program.cores)
            #expect(ResourceCheck.violation(of: program, limits: trn2Limits) == nil, "\(configuration.key)")
            let fused = try Interpreter.run(program, inputs: inputs)
            let chain = try unfused(problem, configuration, inputs)
            #expect(fused.count == 2)
            for (got, want) in zip(fused, chain) {
                #expect(got.data.map(\.bitPattern) == want.data.map(\.bitPattern), "\(configuration.key)")
            }
            for (got, want) in zip(fused, expected) {
                #expect(NumericCheck.relativeError(got, want) <= block.tolerance(for: problem))
            }
        }
        if text.hasSuffix("lnc=2") { #expect(cores == [1, 2]) }
    }

    /// With `experts_split=experts_hidden` the block exchanges the experts' activations between
    /// its cores and still computes the unfused chain's bits.
    @Test func theExchangingExpertSplitIsBitForBitTheUnfusedChain() throws {
        let problem = try block.parseProblem("T=2,H=256,I=96,E=8,k=4,lnc=2")
        let inputs = block.inputs(for: problem, seed: 5)
        let configuration = try #require(
            validConfigurations(SearchSpace(block), problem, limit: 400, seed: 6).first {
                $0["experts_split"] == .choice("experts_hidden")
            })
        let program = block.program(for: problem, configuration: configuration)
        #expect(program.cores == 2)
        let fused = try Interpreter.run(program, inputs: inputs)
        let chain = try unfused(problem, configuration, inputs)
        for (got, want) in zip(fused, chain) {
            #expect(got.data.map(\.bitPattern) == want.data.map(\.bitPattern), "\(configuration.key)")
        }
    }

    /// Names of the stages that clash in the chained kernel are made unique; the stages' outputs
    /// that later stages read become intermediates (all of them with `handoff=hbm`), declared once
    /// in the emitted source.
    @Test func theChainedSourceDeclaresEachIntermediateOnce() throws {
        let problem = try block.parseProblem("T=1,H=256,I=96,E=16,k=4")
        let configuration = try SearchSpace(block).parse("handoff=hbm")
        let program = block.program(for: problem, configuration: configuration)
        let names = program.buffers.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(program.inputs.map(\.name) == ["x", "residual", "norm_weight", "router_weight", "gate_up", "down"])
        #expect(program.outputs.map(\.name) == ["residual_sum", "experts_out"])
        let intermediates = program.buffers.filter { $0.role == .intermediate }.map(\.name)
        #expect(intermediates.count == 3, "\(intermediates)")
        let source = NKIEmitter.function(program)
        for name in intermediates {
            #expect(source.contains("\(name) = nl.ndarray("), "\(name) is not declared")
        }
    }

    /// The router's weight load is issued with the norm's own loads, before any of the norm's
    /// arithmetic, on the prefetch stream: the router need not wait for it after the norm.
    @Test func theRouterWeightsLoadWithTheNormsInputs() throws {
        let problem = try block.parseProblem("T=1,H=256,I=96,E=16,k=4")
        let program = block.program(for: problem, configuration: block.defaultConfiguration)
        let routerWeight = try #require(program.inputs.first { $0.name == "router_weight" }?.id)
        var loaded: [Int] = []
        var routerLoad: (position: Int, queue: Int)?
        var firstArithmetic: Int?
        for (position, statement) in program.body.enumerated() {
            var reads: [Access] = []
            var computes = false
            func visit(_ statement: Stmt) {
                switch statement {
                case .loop(let loop): loop.body.forEach(visit)
                case .op(.dma(_, let src, let queue)):
                    reads.append(src)
                    if src.buffer == routerWeight { routerLoad = (position, queue) }
                case .op(.memset), .allocate, .barrier: break
                case .op: computes = true
                }
            }
            visit(statement)
            loaded += reads.map(\.buffer)
            if computes, firstArithmetic == nil { firstArithmetic = position }
        }
        let load = try #require(routerLoad)
        #expect(load.queue == 3)
        #expect(load.position < (firstArithmetic ?? 0))
        let norm = ["x", "residual", "norm_weight"].compactMap { name in program.inputs.first { $0.name == name }?.id }
        #expect(norm.count == 3 && norm.allSatisfy(loaded.prefix(3).contains), "\(loaded)")
    }
}
