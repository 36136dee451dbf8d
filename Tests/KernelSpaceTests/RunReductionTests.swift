import KernelSpace
import Testing

/// `tensor_reduce` into `[P, F]` of `[P, F, n]` (``Instruction/tensorReduce(dst:src:op:)``): each
/// run along the last dimension reduced in element order; the interpreter, the emitter's axis and
/// the fp32 weighted sum of ``ExpertMLPDecodeTemplate``'s exchanging split.
@Suite struct RunReductionTests {
    /// `x [2, 3 * 4]` loaded as `[2, 3, 4]`, its four-element runs summed into `y [2, 3]`.
    func runSums(into columns: Int = 3) -> KernelProgram {
        var b = ProgramBuilder()
        let x = b.buffer("x", .hbm, [2, 12], .fp32, role: .input(0))
        let y = b.buffer("y", .hbm, [2, columns], .fp32, role: .output)
        let tile = b.buffer("x_tile", .sbuf, [2, 3, 4], .fp32)
        let sums = b.buffer("sums", .sbuf, [2, columns], .fp32)
        let body: [Stmt] = [
            .allocate(tile.id),
            .op(.dma(dst: Access(tile, [.full(2), .full(3), .full(4)]), src: Access(whole: x), queue: 0)),
            .allocate(sums.id),
            .op(.tensorReduce(dst: Access(whole: sums), src: Access(tile, [.full(2), .full(3), .full(4)]), op: .add)),
            .op(.dma(dst: Access(whole: y), src: Access(whole: sums), queue: 0)),
        ]
        return b.program(name: "run_sums_kernel", body: body)
    }

    @Test func eachRunIsReducedInOrder() throws {
        // Element order matters in fp32: 1e8 + 1 - 1e8 is 0, not 1.
        let row: [Float] = [1, 2, 3, 4, 1e8, 1, -1e8, 5, 0, 0, 0, 7]
        let x = HostTensor(shape: [2, 12], data: row + row.map { $0 * 2 })
        let y = try Interpreter.run(runSums(), inputs: [x])[0]
        #expect(y.data == [10, 5, 7, 20, 10, 14])
        // A [2, 2] destination is not a whole number of runs of the last dimension.
        #expect(throws: KernelSpaceError.self) { try Interpreter.run(runSums(into: 2), inputs: [x]) }
    }

    @Test func theEmittedReductionNamesOnlyTheLastAxis() {
        let source = NKIEmitter.function(runSums(), release: .v227)
        #expect(
            source.contains(
                "nisa.tensor_reduce(dst=sums, op=nl.add, data=x_tile, axis=(2,), keepdims=True)"), "\(source)")
    }

    /// With fp32 sums, `split=experts_hidden` keeps each expert's weighted product and adds them in
    /// one reduction per token; with bf16 sums, one add per expert as before.
    @Test func fp32ExpertSumsAreOneReductionPerToken() throws {
        let template = try #require(catalogTemplate("expert-mlp-decode"))
        let problem = try template.parseProblem("T=2,H=512,I=192,E=8,k=4,lnc=2")
        for (accumulator, reductions) in [("fp32", 2), ("bf16", 0)] {
            let configuration = try SearchSpace(template).parse(
                "weights=stationary,down_tile=256,bufs=2,acc_dtype=\(accumulator),split=experts_hidden")
            var found = 0
            template.program(for: problem, configuration: configuration).forEachInstruction { instruction, loops in
                if case .tensorReduce = instruction { found += loops.reduce(1) { $0 * $1.trips } }
            }
            #expect(found == reductions, "acc_dtype=\(accumulator): \(found)")
        }
    }
}
