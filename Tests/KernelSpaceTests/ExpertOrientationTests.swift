import KernelSpace
import Testing

/// `expert-mlp-decode` with `weights=stationary` interleaves the hidden size over partitions and
/// swaps the matmul operands; it is declared to compute the same bits as `weights=moving`.
@Suite struct ExpertOrientationTests {
    static let problems = [
        "T=1,H=256,I=96,E=8,k=3", "T=2,H=128,I=160,E=6,k=2", "T=2,H=384,I=64,E=4,k=2",
        "T=1,H=2048,I=192,E=8,k=2", "T=1,H=512,I=192,E=8,k=4,lnc=2",
    ]

    @Test(arguments: problems)
    func stationaryWeightsComputeTheBitsOfMovingWeights(problemText: String) throws {
        let template = try #require(catalogTemplate("expert-mlp-decode"))
        let space = SearchSpace(template)
        let problem = try template.parseProblem(problemText)
        let splits = problemText.contains("lnc=2") ? ["none", "experts"] : ["none"]
        for split in splits {
            for accumulator in ["fp32", "bf16"] {
                let common = "acc_dtype=\(accumulator),split=\(split),bufs=2"
                let moving = try space.parse("weights=moving,down_tile=256," + common)
                let stationary = try space.parse("weights=stationary,down_tile=256," + common)
                #expect(template.restriction(stationary, for: problem) == nil)
                let check = NumericCheck.run(template, problem: problem, configuration: stationary)
                #expect(check.passed, "\(problemText) \(stationary.key): \(check.reason ?? "")")
                let verdict = NumericCheck.bitExact(
                    template, problem: problem, configuration: stationary, reference: moving)
                #expect(verdict.exact, "\(problemText) \(stationary.key): \(verdict.reason ?? "")")
            }
        }
    }

    /// Split over two cores with bf16 sums, each core stores its half of the output and adds its
    /// sum of the other half with one accumulating DMA after the barrier; fp32 sums are still
    /// exchanged whole and added on VectorE. Either way the routing weights reach every
    /// partition through TensorE, not a broadcasting load.
    @Test func bf16SumsAreAddedAcrossCoresByAccumulatingDMA() throws {
        let template = try #require(catalogTemplate("expert-mlp-decode"))
        let problem = try template.parseProblem("T=1,H=512,I=192,E=8,k=4,lnc=2")
        for accumulator in ["bf16", "fp32"] {
            let key = "weights=stationary,split=experts,acc_dtype=\(accumulator)"
            let program = template.program(for: problem, configuration: try SearchSpace(template).parse(key))
            var (accumulates, barriers, broadcasts) = (0, 0, 0)
            program.forEachInstruction { instruction, _ in
                if case .dmaAdd = instruction { accumulates += 1 }
                if case .dma(_, let src, _) = instruction, src.ranges.contains(where: { $0.stride == 0 }) {
                    broadcasts += 1
                }
            }
            for case .barrier in program.body { barriers += 1 }
            let exchanged = program.buffers.filter { $0.name.hasSuffix("_partials") }.count
            #expect(program.cores == 2 && barriers == 1 && broadcasts == 0, "\(key)")
            #expect(accumulates == (accumulator == "bf16" ? 1 : 0), "\(key)")
            #expect(exchanged == (accumulator == "bf16" ? 0 : 1), "\(key)")
        }
    }

    /// `split=experts_hidden` exchanges the experts' activations, not partial sums: each core
    /// sums every expert in slot order for its half of the columns, so it computes the one-core
    /// program's bits, with one barrier and no accumulating DMA.
    @Test(arguments: ["T=1,H=256,I=96,E=8,k=4,lnc=2", "T=2,H=512,I=192,E=8,k=4,lnc=2", "T=2,H=128,I=160,E=6,k=2,lnc=2"])
    func exchangingActivationsComputesTheOneCoreBits(problemText: String) throws {
        let template = try #require(catalogTemplate("expert-mlp-decode"))
        let space = SearchSpace(template)
        let problem = try template.parseProblem(problemText)
        for accumulator in ["fp32", "bf16"] {
            let common = "weights=stationary,down_tile=256,bufs=2,acc_dtype=\(accumulator),split="
            let exchanging = try space.parse(common + "experts_hidden")
            #expect(template.restriction(exchanging, for: problem) == nil)
            let program = template.program(for: problem, configuration: exchanging)
            var accumulates = 0
            program.forEachInstruction { instruction, _ in
                if case .dmaAdd = instruction { accumulates += 1 }
            }
            let barriers = program.body.filter { if case .barrier = $0 { true } else { false } }.count
            #expect(program.cores == 2 && barriers == 1 && accumulates == 0, "\(problemText) \(exchanging.key)")
            let verdict = NumericCheck.bitExact(
                template, problem: problem, configuration: exchanging, reference: try space.parse(common + "none"))
            #expect(verdict.exact, "\(problemText) \(exchanging.key): \(verdict.reason ?? "")")
        }
        let moving = try space.parse("weights=moving,split=experts_hidden")
        #expect(template.restriction(moving, for: problem) == "split=experts_hidden needs weights=stationary")
    }

    @Test func stationaryWeightsLoadEachExpertsGateUpInOneDMA() throws {
        let template = try #require(catalogTemplate("expert-mlp-decode"))
        let problem = try template.parseProblem("T=1,H=2048,I=192,E=128,k=8")
        func gateUpLoads(_ key: String) throws -> Int {
            let program = template.program(for: problem, configuration: try SearchSpace(template).parse(key))
            let gateUp = try #require(program.buffers.first { $0.name == "gate_up" }?.id)
            var loads = 0
            program.forEachInstruction { instruction, loops in
                guard case .dma(_, let src, _) = instruction, src.buffer == gateUp else { return }
                loads += loops.map(\.trips).reduce(1, *)
            }
            return loads
        }
        #expect(try gateUpLoads("weights=stationary,down_tile=256") == 8)
        #expect(try gateUpLoads("weights=moving") == 8 * 16)
    }
}
