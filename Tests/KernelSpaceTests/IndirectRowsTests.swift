import KernelSpace
import Testing

/// Rows at run-time offsets (``Access/rows(at:skippingOutOfRange:)``, NKI's `vector_offset`): the
/// interpreter gathers and scatter-adds them, skipping rows out of range only where asked; the
/// emitter writes the access pattern; the prefill experts move a block's rows in one DMA each way.
@Suite struct IndirectRowsTests {
    /// Three rows of `x` gathered by `index` (a row past `x` skipped: it keeps its zeros), then
    /// scatter-added into `y` at `slots`.
    func gatherAndScatter() -> KernelProgram {
        var b = ProgramBuilder()
        let x = b.buffer("x", .hbm, [6, 4], .fp32, role: .input(0))
        let index = b.buffer("index", .hbm, [3, 1], .int32, role: .input(1))
        let slots = b.buffer("slots", .hbm, [3, 1], .int32, role: .input(2))
        let y = b.buffer("y", .hbm, [5, 4], .fp32, role: .output)
        let indexSB = b.buffer("index_sb", .sbuf, [3, 1], .int32)
        let slotsSB = b.buffer("slots_sb", .sbuf, [3, 1], .int32)
        let rows = b.buffer("rows", .sbuf, [3, 4], .fp32)
        let zeros = b.buffer("zeros", .sbuf, [5, 4], .fp32)
        let column = [AffineRange.full(3), .full(1)]
        let tile = [AffineRange.full(3), .full(4)]
        let body: [Stmt] = [
            .allocate(indexSB.id), .op(.dma(dst: Access(indexSB, column), src: Access(index, column), queue: 0)),
            .allocate(slotsSB.id), .op(.dma(dst: Access(slotsSB, column), src: Access(slots, column), queue: 0)),
            .allocate(zeros.id), .op(.memset(dst: Access(zeros, [.full(5), .full(4)]), value: 0, engine: .vector)),
            .op(.dma(dst: Access(y, [.full(5), .full(4)]), src: Access(zeros, [.full(5), .full(4)]), queue: 1)),
            .allocate(rows.id), .op(.memset(dst: Access(rows, tile), value: 0, engine: .gpsimd)),
            .op(
                .dma(
                    dst: Access(rows, tile),
                    src: Access(x, tile).rows(at: Access(indexSB, column), skippingOutOfRange: true), queue: 0)),
            .op(.dmaAdd(dst: Access(y, tile).rows(at: Access(slotsSB, column)), src: Access(rows, tile), queue: 2)),
            .op(.dmaAdd(dst: Access(y, tile).rows(at: Access(slotsSB, column)), src: Access(rows, tile), queue: 2)),
        ]
        return b.program(name: "gather_scatter_kernel", body: body)
    }

    func run(index: [Float], slots: [Float]) throws(KernelSpaceError) -> HostTensor {
        let x = HostTensor(shape: [6, 4], data: (0..<24).map { Float($0 + 1) })
        return try Interpreter.run(
            gatherAndScatter(),
            inputs: [x, HostTensor(shape: [3, 1], data: index), HostTensor(shape: [3, 1], data: slots)])[0]
    }

    @Test func rowsMoveToAndFromTheirOffsets() throws {
        // x row 4 into y row 1, x row 0 into y row 4, x row 9 (past x) skipped: y row 0 gets zeros.
        let y = try run(index: [4, 0, 9], slots: [1, 4, 0])
        func row(_ r: Int) -> [Float] { Array(y.data[(r * 4)..<(r * 4 + 4)]) }
        func x(_ r: Int) -> [Float] { (0..<4).map { Float(r * 4 + $0 + 1) * 2 } }
        #expect(row(1) == x(4))
        #expect(row(4) == x(0))
        for r in [0, 2, 3] { #expect(row(r) == [0, 0, 0, 0], "row \(r)") }
        // A scatter-add does not skip: a slot past y is a bad table.
        #expect(throws: KernelSpaceError.self) { try run(index: [0, 1, 2], slots: [0, 1, 5]) }
    }

    @Test func theAccessPatternTakesOneOffsetARow() {
        let old = NKIEmitter.function(gatherAndScatter(), release: .v227)
        let new = NKIEmitter.function(gatherAndScatter(), release: .v229)
        let gather =
            "nisa.dma_copy(dst=rows, src=x.ap(pattern=[[4, 3], [1, 4]], offset=0, vector_offset=index_sb, "
            + "indirect_dim=0), oob_mode=nisa.oob_mode.skip)"
        let target = "y.ap(pattern=[[4, 3], [1, 4]], offset=0, vector_offset=slots_sb, indirect_dim=0)"
        #expect(old.contains(gather), "\(old)")
        #expect(new.contains(gather), "\(new)")
        #expect(old.contains("nisa.dma_copy(dst=\(target), src=rows, dst_rmw_op=nl.add)"), "\(old)")
        #expect(new.contains("nisa.dma_compute(dst=\(target), srcs=[\(target), rows], reduce_op=nl.add)"), "\(new)")
    }

    @Test(arguments: [
        ("T=40,H=128,I=96,E=8,k=2", "block=32,down_tile=256"),
        ("T=40,H=128,I=96,E=8,k=4,lnc=2", "block=32,down_tile=256,split=blocks"),
    ])
    func aBlockMovesItsRowsInOneDMAEachWay(problemText: String, key: String) throws {
        let template = ExpertMLPPrefillTemplate()
        let problem = try template.parseProblem(problemText)
        let configuration = try SearchSpace(template).parse(key)
        let program = template.program(for: problem, configuration: configuration)
        var (gathers, scatters) = (0, 0)
        program.forEachInstruction { instruction, _ in
            switch instruction {
            case .dma(_, let src, _) where src.dynamic?.kind == .vector(skipsOutOfRange: true): gathers += 1
            case .dmaAdd(let dst, _, _) where dst.dynamic?.kind == .vector(skipsOutOfRange: false): scatters += 1
            case .dma(_, let src, _) where src.dynamic != nil && src.dynamic?.kind != .scalar:
                Issue.record("a gather that does not skip padding rows")
            default: break
            }
        }
        // One of each in the block loop's body (counted once per statement, not per trip).
        #expect(gathers == 1 && scatters == 1)
        // The tables: a padding row's token is T plus its slot, so a block's indices are distinct.
        let inputs = template.inputs(for: problem, seed: 5)
        let arguments = template.arguments(inputs, problem: problem, configuration: configuration)
        let (tokens, rows) = (problem.values[0].intValue!, arguments[4].shape[0])
        let blocks = arguments[4].shape[1]
        for block in 0..<blocks {
            let column = (0..<rows).map { Int(arguments[4].data[$0 * blocks + block]) }
            #expect(Set(column).count == rows, "block \(block): \(column)")
            for (slot, token) in column.enumerated() where token >= tokens {
                #expect(token == tokens + slot)
                #expect(arguments[5].data[slot * blocks + block] == 0)
            }
        }
    }

    @Test func gpSimdCannotTouchPSUM() {
        var b = ProgramBuilder()
        let y = b.buffer("y", .hbm, [4, 8], .fp32, role: .output)
        let psum = b.buffer("acc", .psum, [4, 8], .fp32)
        let rows = b.buffer("rows", .sbuf, [4, 8], .fp32)
        let tile = [AffineRange.full(4), .full(8)]
        func program(_ engine: Engine) -> KernelProgram {
            b.program(
                name: "evict_kernel",
                body: [
                    .allocate(psum.id), .op(.memset(dst: Access(psum, tile), value: 0, engine: .vector)),
                    .allocate(rows.id), .op(.copy(dst: Access(rows, tile), src: Access(psum, tile), engine: engine)),
                    .op(.dma(dst: Access(y, tile), src: Access(rows, tile), queue: 0)),
                ])
        }
        #expect(ResourceCheck.violation(of: program(.vector), limits: trn2Limits) == nil)
        #expect(ResourceCheck.violation(of: program(.gpsimd), limits: trn2Limits) == "GpSimd cannot access PSUM (acc)")
    }
}
