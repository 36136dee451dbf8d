import Foundation
import KernelSpace
import Testing

/// Kernels on the two physical cores of a logical core: the programs, the interpreter's race
/// check, the resource check and the emitted source.
@Suite struct CoreSplitTests {
    /// Core `c` copies half `c` of `x` through SBUF into `scratch`; each core then reads the other
    /// core's half of `scratch` into its half of `y` (y = x with halves swapped). With `barrier`, a
    /// barrier on `scratch` (or on `x` with `onInput`) comes between.
    func exchange(barrier: Bool, onInput: Bool = false) -> KernelProgram {
        var b = ProgramBuilder()
        let x = b.buffer("x", .hbm, [4, 8], .fp32, role: .input(0))
        let scratch = b.buffer("scratch", .hbm, [4, 8], .fp32)
        let y = b.buffer("y", .hbm, [4, 8], .fp32, role: .output)
        let tile = b.buffer("tile", .sbuf, [4, 4], .fp32)
        let back = b.buffer("back", .sbuf, [4, 4], .fp32)
        let core = b.coreIndex()
        let own = AffineRange(start: .term(core, 4), size: 4)
        let other = AffineRange(start: .term(core, -4) + 4, size: 4)
        let rows = AffineRange.full(4)
        var body: [Stmt] = [
            .allocate(tile.id),
            .op(.dma(dst: Access(tile, [rows, .full(4)]), src: Access(x, [rows, own]), queue: 0)),
            .op(.dma(dst: Access(scratch, [rows, own]), src: Access(tile, [rows, .full(4)]), queue: 0)),
        ]
        if barrier { body.append(.barrier(onInput ? x.id : scratch.id)) }
        body += [
            .allocate(back.id),
            .op(.dma(dst: Access(back, [rows, .full(4)]), src: Access(scratch, [rows, other]), queue: 0)),
            .op(.dma(dst: Access(y, [rows, own]), src: Access(back, [rows, .full(4)]), queue: 0)),
        ]
        return b.program(name: "exchange_kernel", body: body, cores: 2, coreVariable: core)
    }

    @Test func coresExchangeDataThroughHBMAfterABarrier() throws {
        let x = HostTensor(shape: [4, 8], data: (0..<32).map(Float.init))
        let y = try Interpreter.run(exchange(barrier: true), inputs: [x])[0]
        for row in 0..<4 {
            for column in 0..<8 {
                #expect(y.data[row * 8 + column] == x.data[row * 8 + (column + 4) % 8])
            }
        }
    }

    @Test func aCoreReadingWhatTheOtherWritesWithoutABarrierIsCaught() {
        let x = HostTensor(shape: [4, 8], data: (0..<32).map(Float.init))
        #expect {
            _ = try Interpreter.run(exchange(barrier: false), inputs: [x])
        } throws: { error in
            (error as? KernelSpaceError)?.message
                == "exchange_kernel: core 1 reads scratch, which core 0 writes with no barrier between"
        }
    }

    /// `core_barrier` waits only for the writes to its `data`: a barrier on another tensor leaves
    /// the exchange through `scratch` unordered.
    @Test func aBarrierOnAnotherTensorDoesNotOrderTheExchange() {
        let x = HostTensor(shape: [4, 8], data: (0..<32).map(Float.init))
        #expect {
            _ = try Interpreter.run(exchange(barrier: true, onInput: true), inputs: [x])
        } throws: { error in
            (error as? KernelSpaceError)?.message.hasPrefix(
                "exchange_kernel: core 0 reads scratch, which core 1 writes and no barrier since names it") == true
        }
    }

    @Test func theResourceCheckKnowsCoresAndBarriers() {
        var oneCore = trn2Limits
        oneCore.coresPerProgram = 1
        let program = exchange(barrier: true)
        #expect(ResourceCheck.violation(of: program, limits: trn2Limits) == nil)
        #expect(ResourceCheck.violation(of: program, limits: oneCore)?.contains("runs on 2 cores") == true)
        var nested = program
        nested.body = [.loop(Loop(LoopVar(id: 0, name: "core"), trips: 1, body: program.body))]
        #expect(ResourceCheck.violation(of: nested, limits: trn2Limits)?.contains("inside a loop") == true)
        var onChip = program
        onChip.body = program.body.map { statement in
            if case .barrier = statement { return .barrier(3) }
            return statement
        }
        #expect(ResourceCheck.violation(of: onChip, limits: trn2Limits)?.contains("not in HBM") == true)
    }

    @Test func exactRenderingOfATwoCoreKernel() {
        let source = NKIEmitter.function(exchange(barrier: true))
        let expected = """
            @nki.jit
            def exchange_kernel(x):
                core = nl.program_id(0)  # launched as kernel[2]
                y = nl.ndarray((4, 8), dtype=nl.float32, buffer=nl.shared_hbm)
                scratch = nl.ndarray((4, 8), dtype=nl.float32, buffer=nl.shared_hbm)  # exchanged between cores
                tile = nl.ndarray((4, 4), dtype=nl.float32, buffer=nl.sbuf)
                nisa.dma_copy(dst=tile, src=x[0:4, core * 4:core * 4 + 4])
                nisa.dma_copy(dst=scratch[0:4, core * 4:core * 4 + 4], src=tile)
                nisa.core_barrier(data=scratch, cores=(0, 1))
                back = nl.ndarray((4, 4), dtype=nl.float32, buffer=nl.sbuf)
                nisa.dma_copy(dst=back, src=scratch[0:4, 4 - core * 4:4 - core * 4 + 4])
                nisa.dma_copy(dst=y[0:4, core * 4:core * 4 + 4], src=back)
                return y

            """
        #expect(source == expected)
    }

    /// Every template with a `split` parameter: each split runs on two cores, matches the reference
    /// on a two-core check problem, and is refused at LNC 1.
    @Test(arguments: catalog.filter { $0.parameters.contains { $0.name == "split" } }.map(\.id))
    func everySplitRunsOnBothCoresAndMatchesTheReference(kernel: String) throws {
        let template = try #require(catalogTemplate(kernel))
        let split = try #require(template.parameters.first { $0.name == "split" })
        let text = try #require(template.checkProblems.first { $0.hasSuffix("lnc=2") }, "\(kernel): no lnc=2 check")
        let problem = try template.parseProblem(text)
        let single = try template.parseProblem(String(text.dropLast("lnc=2".count)) + "lnc=1")
        let space = SearchSpace(template)
        let sample = validConfigurations(space, problem, limit: 200, seed: 3)
        let inputs = template.inputs(for: problem, seed: 4)
        let expected = template.reference(for: problem, inputs: inputs)
        var checked = Set<String>()
        for value in split.domain.values {
            let configuration = try #require(
                sample.first { $0["split"] == value }, "\(kernel): no valid configuration with split=\(value)")
            let program = template.program(for: problem, configuration: configuration)
            #expect(program.cores == (value == .choice("none") ? 1 : 2), "\(kernel) split=\(value)")
            let outputs = try Interpreter.run(
                program, inputs: template.arguments(inputs, problem: problem, configuration: configuration))
            for (got, want) in zip(outputs, expected) {
                let error = NumericCheck.relativeError(got, want)
                #expect(error <= template.tolerance(for: problem), "\(kernel) \(configuration.key): \(error)")
            }
            if value != .choice("none") {
                #expect(template.restriction(configuration, for: single)?.contains("needs lnc=2") == true)
            }
            checked.insert("\(value)")
        }
        #expect(checked.count >= 2)
    }
}
