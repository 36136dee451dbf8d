import KernelSpace
import Testing

/// Loops counted on the device (``RuntimeCount``): the interpreter reads the count, the emitter
/// writes `nl.dynamic_range` where the release has it, and the prefill experts skip empty blocks.
@Suite struct RuntimeCountTests {
    /// Four rows of `x`, each copied into `y` when its flag is set (a zeroed `y` otherwise).
    func guardedCopy() -> KernelProgram {
        var b = ProgramBuilder()
        let x = b.buffer("x", .hbm, [4, 8], .fp32, role: .input(0))
        let flags = b.buffer("flags", .hbm, [1, 4], .int32, role: .input(1))
        let y = b.buffer("y", .hbm, [4, 8], .fp32, role: .output)
        let flagsSB = b.buffer("flags_sb", .sbuf, [1, 4], .int32)
        let rows = b.buffer("rows", .sbuf, [4, 8], .fp32)
        let (row, live) = (b.variable("r"), b.variable("live"))
        let one = AffineRange(start: .term(row), size: 1)
        let copy = Loop(
            live, trips: 1,
            runtime: RuntimeCount(
                source: Access(flagsSB, [.full(1), one]), expected: .const(2) + .term(row, -1)),
            body: [
                .op(.dma(dst: Access(rows, [one, .full(8)]), src: Access(x, [one, .full(8)]), queue: 0))
            ])
        let body: [Stmt] = [
            .allocate(flagsSB.id),
            .op(.dma(dst: Access(flagsSB, [.full(1), .full(4)]), src: Access(flags, [.full(1), .full(4)]), queue: 0)),
            .allocate(rows.id),
            .op(.memset(dst: Access(rows, [.full(4), .full(8)]), value: 0, engine: .vector)),
            .loop(Loop(row, trips: 4, kind: .sequential, body: [.loop(copy)])),
            .op(.dma(dst: Access(y, [.full(4), .full(8)]), src: Access(rows, [.full(4), .full(8)]), queue: 0)),
        ]
        return b.program(name: "guarded_copy_kernel", body: body)
    }

    func run(flags: [Float]) throws(KernelSpaceError) -> HostTensor {
        let x = HostTensor(shape: [4, 8], data: (0..<32).map { Float($0 + 1) })
        return try Interpreter.run(guardedCopy(), inputs: [x, HostTensor(shape: [1, 4], data: flags)])[0]
    }

    @Test func theInterpreterRunsTheCountTheDeviceHolds() throws {
        let y = try run(flags: [1, 0, 1, 0])
        for row in 0..<4 {
            let want: [Float] = row % 2 == 0 ? (0..<8).map { Float(row * 8 + $0 + 1) } : Array(repeating: 0, count: 8)
            #expect(Array(y.data[(row * 8)..<(row * 8 + 8)]) == want, "row \(row)")
        }
        // A count above the loop's trips is a bad table, not a longer loop.
        #expect(throws: KernelSpaceError.self) { try run(flags: [1, 2, 0, 0]) }
    }

    @Test func releasesWithDynamicLoopsLoadTheCountIntoARegister() {
        let loop = """
                for r in nl.sequential_range(0, 4, 1):
                    live_count = nisa.register_alloc()
                    nisa.register_load(dst=live_count, src=flags_sb[0:1, r:r + 1])
                    for _ in nl.dynamic_range(live_count):
                        nisa.dma_copy(dst=rows[r:r + 1, 0:8], src=x[r:r + 1, 0:8])
            """
        let fallback = """
                for r in nl.sequential_range(0, 4, 1):
                    # SDK 2.27 has no dynamic loops: every trip runs whatever flags_sb[0:1, r:r + 1] holds (the trips past it change nothing)
                    for live in nl.affine_range(1):
                        nisa.dma_copy(dst=rows[r:r + 1, 0:8], src=x[r:r + 1, 0:8])
            """
        let new = NKIEmitter.function(guardedCopy(), release: .v229)
        let old = NKIEmitter.function(guardedCopy(), release: .v227)
        #expect(new.contains(loop), "\(new)")
        #expect(old.contains(fallback), "\(old)")
        #expect(!old.contains("dynamic_range("))
    }

    /// The prefill experts' problem and configuration, with its program and kernel arguments.
    func expertCase(_ problemText: String, _ key: String) throws -> (KernelProgram, [HostTensor], HostTensor) {
        let template = ExpertMLPPrefillTemplate()
        let problem = try template.parseProblem(problemText)
        let configuration = try SearchSpace(template).parse(key)
        #expect(template.restriction(configuration, for: problem) == nil)
        let inputs = template.inputs(for: problem, seed: 5)
        let arguments = template.arguments(inputs, problem: problem, configuration: configuration)
        return (template.program(for: problem, configuration: configuration), arguments, arguments[6])
    }

    @Test(arguments: [
        ("T=40,H=128,I=96,E=8,k=2", "block=32,down_tile=256"),
        ("T=40,H=128,I=96,E=8,k=4,lnc=2", "block=32,down_tile=256,split=blocks"),
        ("T=70,H=64,I=160,E=6,k=3,routing=skewed,lnc=2", "block=32,down_tile=256,split=blocks"),
    ])
    func emptyExpertBlocksAreSkippedAndRunningThemChangesNothing(problem: String, key: String) throws {
        let (program, arguments, active) = try expertCase(problem, key)
        let cores = program.cores
        let perCore = active.data.count / cores
        let counts = (0..<cores).map { core in
            active.data[(core * perCore)..<((core + 1) * perCore)].filter { $0 == 1 }.count
        }
        #expect(counts.reduce(0, +) < active.data.count, "some compiled blocks are empty: \(counts)")
        #expect(counts.max()! - counts.min()! <= 1, "the cores share the used blocks evenly: \(counts)")
        for core in 0..<cores {
            let slice = Array(active.data[(core * perCore)..<((core + 1) * perCore)])
            #expect(slice == slice.sorted(by: >), "core \(core)'s active blocks come first")
        }
        let skipping = try Interpreter.run(program, inputs: arguments)
        let everyBlock = try Interpreter.run(program.runningEveryTrip, inputs: arguments)
        #expect(skipping.count == everyBlock.count)
        for (a, b) in zip(skipping, everyBlock) {
            #expect(a.data.map(\.bitPattern) == b.data.map(\.bitPattern))
        }
    }
}
