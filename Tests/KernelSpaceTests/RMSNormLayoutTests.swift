import KernelSpace
import Testing

/// `rmsnorm` with `layout=hidden` spreads one token's row over the partitions (a decode step's
/// norm), summing squares per partition and then across partitions with a matmul of ones.
@Suite struct RMSNormLayoutTests {
    @Test(arguments: ["T=1,H=2048", "T=4,H=2048,residual=1", "T=2,H=128,residual=1", "T=3,H=384"])
    func theHiddenLayoutMatchesTheReference(problemText: String) throws {
        let template = try #require(catalogTemplate("rmsnorm"))
        let problem = try template.parseProblem(problemText)
        for square in ["scalar", "vector"] {
            let configuration = try SearchSpace(template).parse("layout=hidden,tile_t=32,square=\(square)")
            #expect(template.restriction(configuration, for: problem) == nil)
            let check = NumericCheck.run(template, problem: problem, configuration: configuration)
            #expect(check.passed, "\(problemText) \(configuration.key): \(check.reason ?? "")")
        }
    }

    @Test func everyElementwiseStepTouchesHOver128ElementsPerPartition() throws {
        let template = try #require(catalogTemplate("rmsnorm"))
        let problem = try template.parseProblem("T=1,H=2048,residual=1")
        func widest(_ key: String) throws -> Int {
            let program = template.program(for: problem, configuration: try SearchSpace(template).parse(key))
            var widest = 0
            program.forEachInstruction { instruction, _ in
                guard [.vector, .scalar, .gpsimd].contains(instruction.engine) else { return }
                let (_, free) = instruction.destination.shape2D([Int](repeating: 0, count: program.loopVariables.count))
                widest = max(widest, free)
            }
            return widest
        }
        // The ones matrix is set once, 128 wide; the per-token steps are 16 wide.
        #expect(try widest("layout=hidden,tile_t=32") == 128)
        #expect(try widest("layout=tokens") == 2048)
    }

    /// With `layout=hidden`, x, the residual and the weight load as whole rows, each onto one
    /// partition, and `H/128` TensorE transposes per token lay them out: no DMA moves runs of
    /// `H/128` elements into a `[128, H/128]` tile.
    @Test(arguments: ["T=1,H=2048,residual=1", "T=3,H=384", "T=2,H=256,residual=1,lnc=2"])
    func theHiddenLayoutLoadsWholeRowsAndTransposesThem(problemText: String) throws {
        let template = try #require(catalogTemplate("rmsnorm"))
        let problem = try template.parseProblem(problemText)
        let key = "layout=hidden,tile_t=32" + (problemText.contains("lnc=2") ? ",split=tokens" : "")
        let configuration = try SearchSpace(template).parse(key)
        #expect(template.restriction(configuration, for: problem) == nil)
        let program = template.program(for: problem, configuration: configuration)
        var (transposes, rowLoads, narrowLoads) = (0, 0, 0)
        program.forEachInstruction { instruction, loops in
            let trips = loops.reduce(1) { $0 * $1.trips }
            switch instruction {
            case .transpose: transposes += trips
            case .dma(let dst, let src, _) where program.buffers[src.buffer].memory == .hbm:
                if program.buffers[dst.buffer].name == "rows" { rowLoads += trips } else { narrowLoads += trips }
            default: break
            }
        }
        // One core's tokens (both run it on two), H/128 strided pieces each; x, the residual per
        // token and the weight once, all into the row tile.
        let hidden = problem["H"]?.intValue ?? 0
        let tokens = (problem["T"]?.intValue ?? 0) / (problemText.contains("lnc=2") ? 2 : 1)
        let perToken = problemText.contains("residual=1") ? 2 : 1
        #expect(transposes == tokens * hidden / 128, "\(transposes) transposes")
        #expect(rowLoads == tokens * perToken + 1 && narrowLoads == 0, "\(rowLoads) rows, \(narrowLoads) others")
        let check = NumericCheck.run(template, problem: problem, configuration: configuration)
        #expect(check.passed, "\(problemText): \(check.reason ?? "")")
    }

    @Test func theHiddenLayoutNeedsWholePartitionRows() throws {
        let template = try #require(catalogTemplate("rmsnorm"))
        let configuration = try SearchSpace(template).parse("layout=hidden,tile_t=32")
        let reason = template.restriction(configuration, for: try template.parseProblem("T=1,H=96"))
        #expect(reason?.contains("H=96") == true)
    }
}
