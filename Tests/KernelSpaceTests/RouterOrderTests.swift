import KernelSpace
import Testing

/// `router` with `hidden_order=interleaved` contracts over H as `p * H/128 + f`: W reaches its
/// on-chip layout by one contiguous DMA, and x by a DMA per row (`tile_t=32`) or strided transposes.
@Suite struct RouterOrderTests {
    @Test(arguments: ["T=1,H=2048,E=128,k=8", "T=3,H=512,E=64,k=4", "T=32,H=256,E=64"])
    func theInterleavedOrderMatchesTheReference(problemText: String) throws {
        let template = try #require(catalogTemplate("router"))
        let problem = try template.parseProblem(problemText)
        let configuration = try SearchSpace(template).parse("hidden_order=interleaved,tile_t=32")
        #expect(template.restriction(configuration, for: problem) == nil)
        let check = NumericCheck.run(template, problem: problem, configuration: configuration)
        #expect(check.passed, "\(problemText): \(check.reason ?? "")")
    }

    @Test func theInterleavedOrderLoadsWInOneDMAAndTransposesNothing() throws {
        let template = try #require(catalogTemplate("router"))
        let problem = try template.parseProblem("T=1,H=2048,E=128,k=8")
        func count(_ key: String) throws -> (weightLoads: Int, transposes: Int) {
            let program = template.program(for: problem, configuration: try SearchSpace(template).parse(key))
            let weight = try #require(program.buffers.first { $0.name == "router_weight" }?.id)
            var result = (weightLoads: 0, transposes: 0)
            program.forEachInstruction { instruction, loops in
                let times = loops.map(\.trips).reduce(1, *)
                if case .dma(_, let src, _) = instruction, src.buffer == weight { result.weightLoads += times }
                if case .transpose = instruction { result.transposes += times }
            }
            return result
        }
        let interleaved = try count("hidden_order=interleaved,tile_t=32")
        #expect(interleaved.weightLoads == 1 && interleaved.transposes == 0)
        let tiles = try count("hidden_order=tiles,tile_t=32")
        #expect(tiles.weightLoads == 16 && tiles.transposes == 16)
    }

    /// With token tiles above 32, interleaved x is loaded whole and transposed by strided columns
    /// (tile f is every (H/128)-th column from f), in the same order as W.
    @Test(arguments: ["T=70,H=256,E=64,lnc=2", "T=130,H=512,E=64,k=4"])
    func largerTilesTransposeInterleavedColumns(problemText: String) throws {
        let template = try #require(catalogTemplate("router"))
        let problem = try template.parseProblem(problemText)
        let split = problemText.contains("lnc=2") ? ",split=tokens" : ""
        let configuration = try SearchSpace(template).parse("hidden_order=interleaved,tile_t=64" + split)
        #expect(template.restriction(configuration, for: problem) == nil)
        let check = NumericCheck.run(template, problem: problem, configuration: configuration)
        #expect(check.passed, "\(problemText): \(check.reason ?? "")")
        var strided = 0
        template.program(for: problem, configuration: configuration).forEachInstruction { instruction, _ in
            if case .transpose(_, let src) = instruction, src.ranges[1].stride > 1 { strided += 1 }
        }
        #expect(strided == 1)
    }
}
