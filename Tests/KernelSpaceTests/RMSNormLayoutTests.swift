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

    /// `load=transpose` brings x, the residual and the weight in as whole rows and lays them out
    /// on TensorE; the outputs are the reshaping DMAs' to the bit, over several tokens (the weight's
    /// row loaded once) and split over two cores.
    @Test(arguments: ["T=1,H=2048,residual=1", "T=3,H=384", "T=2,H=256,residual=1,lnc=2"])
    func transposedRowsAreTheReshapedRowsToTheBit(problemText: String) throws {
        let template = try #require(catalogTemplate("rmsnorm"))
        let problem = try template.parseProblem(problemText)
        let key = "layout=hidden,tile_t=32" + (problemText.contains("lnc=2") ? ",split=tokens" : "")
        let reshaped = try SearchSpace(template).parse(key)
        let transposed = try SearchSpace(template).parse(key + ",load=transpose")
        #expect(template.restriction(transposed, for: problem) == nil)
        let program = template.program(for: problem, configuration: transposed)
        var (transposes, narrowLoads) = (0, 0)
        program.forEachInstruction { instruction, loops in
            let trips = loops.reduce(1) { $0 * $1.trips }
            switch instruction {
            case .transpose: transposes += trips
            case .dma(let dst, let src, _) where program.buffers[src.buffer].memory == .hbm:
                if program.buffers[dst.buffer].name != "rows" { narrowLoads += trips }
            default: break
            }
        }
        // One core's tokens, H/128 strided pieces each; every load is a whole row.
        let hidden = problem["H"]?.intValue ?? 0
        let tokens = (problem["T"]?.intValue ?? 0) / (problemText.contains("lnc=2") ? 2 : 1)
        #expect(transposes == tokens * hidden / 128 && narrowLoads == 0, "\(transposes) transposes, \(narrowLoads)")
        let inputs = template.inputs(for: problem, seed: 9)
        let want = try Interpreter.run(
            template.program(for: problem, configuration: reshaped),
            inputs: template.arguments(inputs, problem: problem, configuration: reshaped))
        let got = try Interpreter.run(
            program, inputs: template.arguments(inputs, problem: problem, configuration: transposed))
        #expect(got.count == want.count)
        for (output, expected) in zip(got, want) {
            let differing = zip(output.data, expected.data).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(output.data.count == expected.data.count && differing == 0, "\(differing) values differ")
        }
    }

    @Test func theHiddenLayoutNeedsWholePartitionRows() throws {
        let template = try #require(catalogTemplate("rmsnorm"))
        let configuration = try SearchSpace(template).parse("layout=hidden,tile_t=32")
        let reason = template.restriction(configuration, for: try template.parseProblem("T=1,H=96"))
        #expect(reason?.contains("H=96") == true)
        let rowsOnTokens = try SearchSpace(template).parse("layout=tokens,load=transpose")
        let other = template.restriction(rowsOnTokens, for: try template.parseProblem("T=8,H=256"))
        #expect(other == "load=transpose has no effect with layout=tokens")
    }
}
