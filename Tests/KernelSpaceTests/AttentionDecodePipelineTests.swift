import KernelSpace
import Testing

/// `attention-decode`'s `P V`: unnormalised P is rounded to bf16 one chunk of 128 positions at a
/// time, just before that chunk's transpose, and one split's sum is read from PSUM as it is.
@Suite struct AttentionDecodePipelineTests {
    let problemText = "S=640,heads=8,kv_heads=1,d=128"

    func program(_ key: String) throws -> (KernelProgram, any KernelTemplate, Problem, Configuration) {
        let template = try #require(catalogTemplate("attention-decode"))
        let problem = try template.parseProblem(problemText)
        let configuration = try SearchSpace(template).parse(key)
        #expect(template.restriction(configuration, for: problem) == nil)
        return (template.program(for: problem, configuration: configuration), template, problem, configuration)
    }

    /// Writes into the buffer named `name`: how many, and how many of them run inside a loop of
    /// `trips` iterations.
    func writes(into name: String, _ program: KernelProgram, loopOf trips: Int) -> (all: Int, looped: Int) {
        var (all, looped) = (0, 0)
        program.forEachInstruction { instruction, loops in
            guard program.buffers[instruction.destination.buffer].name == name else { return }
            let count = loops.reduce(1) { $0 * $1.trips }
            all += count
            if loops.contains(where: { $0.trips == trips }) { looped += count }
        }
        return (all, looped)
    }

    @Test(arguments: ["after", "before"])
    func pIsRoundedChunkByChunkAndOneSplitNeedsNoSum(normalise: String) throws {
        // Five chunks of 128 positions: one loop of five, or two splits of three (the last clamped).
        for (splits, perSplit) in [(1, 5), (2, 3)] {
            let key = "s_tile=512,bufs=2,k_layout=pretransposed,normalise=\(normalise),pv_splits=\(splits)"
            let (program, template, problem, configuration) = try program(key)
            let rounding = writes(into: "probabilities", program, loopOf: perSplit)
            if normalise == "after" {
                // Every chunk rounded in the loop that transposes it (the clamped sixth is empty).
                #expect(
                    rounding.all == splits * perSplit && rounding.looped == splits * perSplit, "\(key): \(rounding)")
            } else {
                // Normalised first: one division over the whole row, before the loop.
                #expect(rounding.all == 1 && rounding.looped == 0, "\(key): \(rounding)")
            }
            let sums = program.buffers.contains { $0.name == "pv_sum" }
            #expect(sums == (splits > 1), "\(key): pv_sum \(sums)")
            let check = NumericCheck.run(template, problem: problem, configuration: configuration)
            #expect(check.passed, "\(key): \(check.reason ?? "")")
        }
    }
}
