import KernelSpace
import Testing

/// A fused block's `handoff` copies intermediates on chip where the producer's tile and the
/// consumer's agree (``KernelProgram/handingOverOnChip(engine:)``); it only moves values, so it
/// is declared to compute the bits of `handoff=hbm`.
@Suite struct StageHandoffTests {
    /// One token, the layouts that put its hidden values over the partitions.
    static let oneToken =
        "norm_layout=hidden,norm_tile_t=32,router_tile_t=32,router_hidden_order=interleaved,"
        + "experts_weights=stationary,experts_down_tile=256,"

    @Test(arguments: [
        ("T=1,H=256,I=96,E=16,k=4", oneToken + "experts_split=none"),
        ("T=1,H=512,I=192,E=8,k=4,lnc=2", oneToken + "experts_split=experts"),
        ("T=1,H=512,I=192,E=8,k=4,lnc=2", oneToken + "experts_split=none"),
        ("T=1,H=512,I=192,E=8,k=4,lnc=2", oneToken + "experts_split=experts_hidden"),
        ("T=2,H=128,I=64,E=8,k=2,lnc=2", "norm_tile_t=32,router_tile_t=32,experts_down_tile=256,experts_split=experts"),
        ("T=3,H=256,I=96,E=16,k=4", "norm_tile_t=32,router_tile_t=32,experts_down_tile=256"),
    ])
    func onChipHandoffComputesTheBitsOfHBM(problemText: String, stages: String) throws {
        let template = try #require(catalogTemplate("moe-block-decode"))
        let space = SearchSpace(template)
        let problem = try template.parseProblem(problemText)
        let throughHBM = try space.parse(stages + ",handoff=hbm")
        for engine in ["vector", "gpsimd"] {
            let onChip = try space.parse(stages + ",handoff=\(engine)")
            #expect(template.restriction(onChip, for: problem) == nil, "\(onChip.key)")
            let verdict = NumericCheck.bitExact(
                template, problem: problem, configuration: onChip, reference: throughHBM)
            #expect(verdict.exact, "\(problemText) \(onChip.key): \(verdict.reason ?? "")")
        }
    }

    @Test func oneTokensIntermediatesAllStayOnChip() throws {
        let template = try #require(catalogTemplate("moe-block-decode"))
        let space = SearchSpace(template)
        let problem = try template.parseProblem("T=1,H=2048,I=192,E=128,k=8,lnc=2")
        func intermediates(_ handoff: String) throws -> [String] {
            let key = Self.oneToken + "experts_split=experts,handoff=\(handoff)"
            let program = template.program(for: problem, configuration: try space.parse(key))
            return program.buffers.filter { $0.role == .intermediate }.map(\.name).sorted()
        }
        let (throughHBM, onChip) = (try intermediates("hbm"), try intermediates("vector"))
        #expect(throughHBM == ["topk_experts", "topk_weights", "y"], "\(throughHBM)")
        // The normed row (y), the expert indices and the routing weights (loaded as a row, then
        // broadcast over partitions on chip) all stay on chip.
        #expect(onChip.isEmpty, "\(onChip)")
    }

    /// `x -> tile -> mid -> loaded -> out`, with `tile` overwritten after its store when `rewrite`.
    static func relay(rewrite: Bool) -> KernelProgram {
        var b = ProgramBuilder()
        let x = b.buffer("x", .hbm, [2, 8], .bf16, role: .input(0))
        let mid = b.buffer("mid", .hbm, [2, 8], .bf16, role: .intermediate)
        let out = b.buffer("out", .hbm, [2, 8], .bf16, role: .output)
        let tile = b.buffer("tile", .sbuf, [2, 8], .bf16)
        let loaded = b.buffer("loaded", .sbuf, [2, 8], .bf16)
        let whole = [AffineRange.full(2), .full(8)]
        let row = [AffineRange.full(1), .full(8)]
        let once = b.variable("once")
        return b.program(
            name: "relay",
            body: [
                .allocate(tile.id), .op(.dma(dst: Access(tile, whole), src: Access(x, whole), queue: 0)),
                .loop(
                    Loop(
                        once, trips: 1,
                        body: [.op(.dma(dst: Access(mid, whole), src: Access(tile, whole), queue: 0))])),
            ] + (rewrite ? [.op(.memset(dst: Access(tile, row), value: 0, engine: .vector))] : []) + [
                .allocate(loaded.id), .op(.dma(dst: Access(loaded, whole), src: Access(mid, whole), queue: 1)),
                .op(.dma(dst: Access(out, whole), src: Access(loaded, whole), queue: 0)),
            ])
    }

    @Test func aStoredTileIsCopiedOnlyWhileItHoldsTheStoredValues() throws {
        let input = HostTensor.random([2, 8], dtype: .bf16, seed: 5)
        for rewrite in [false, true] {
            let program = Self.relay(rewrite: rewrite)
            let handed = program.handingOverOnChip(engine: .gpsimd)
            var copies = 0
            handed.forEachInstruction { instruction, _ in if case .copy = instruction { copies += 1 } }
            #expect(copies == (rewrite ? 0 : 1))
            #expect(handed.buffers.contains { $0.name == "mid" } == rewrite)
            let want = try Interpreter.run(program, inputs: [input])[0]
            let got = try Interpreter.run(handed, inputs: [input])[0]
            #expect(got.data == want.data)
        }
    }
}

extension StageHandoffTests {
    /// The handed-over relay's source: the inlined loop's store and the intermediate are gone, the
    /// load is a copy.
    @Test func theHandedOverSourceCopiesAndDeclaresNoIntermediate() {
        let source = NKIEmitter.function(Self.relay(rewrite: false).handingOverOnChip(engine: .gpsimd))
        #expect(
            source == """
                @nki.jit
                def relay(x):
                    out = nl.ndarray((2, 8), dtype=nl.bfloat16, buffer=nl.shared_hbm)
                    tile = nl.ndarray((2, 8), dtype=nl.bfloat16, buffer=nl.sbuf)
                    nisa.dma_copy(dst=tile, src=x)
                    loaded = nl.ndarray((2, 8), dtype=nl.bfloat16, buffer=nl.sbuf)
                    nisa.tensor_copy(dst=loaded, src=tile, engine=nisa.engine.gpsimd)
                    nisa.dma_copy(dst=out, src=loaded)
                    return out

                """)
    }
}

extension StageHandoffTests {
    /// `x -> tile -> mid -> cache column`: a row stored to an intermediate, then copied HBM to HBM
    /// into column 3 of a `[4, 5]` tensor updated in place (a transposed KV cache's new key).
    static func cacheRelay() -> KernelProgram {
        var b = ProgramBuilder()
        let x = b.buffer("x", .hbm, [1, 4], .bf16, role: .input(0))
        let cache = b.buffer("cache", .hbm, [4, 5], .bf16, role: .input(1))
        let mid = b.buffer("mid", .hbm, [1, 4], .bf16, role: .intermediate)
        let out = b.buffer("out", .hbm, [1, 4], .bf16, role: .output)
        let tile = b.buffer("tile", .sbuf, [1, 4], .bf16)
        let row = [AffineRange.full(1), .full(4)]
        let column = [AffineRange.full(4), .index(.const(3))]
        return b.program(
            name: "cache_relay",
            body: [
                .allocate(tile.id), .op(.dma(dst: Access(tile, row), src: Access(x, row), queue: 0)),
                .op(.dma(dst: Access(mid, row), src: Access(tile, row), queue: 0)),
                .op(.dma(dst: Access(cache, column), src: Access(mid, row), queue: 1)),
                .op(.dma(dst: Access(out, row), src: Access(tile, row), queue: 0)),
            ])
    }

    /// The copy into the cache becomes a DMA from the stored tile: the intermediate is neither
    /// stored nor declared, the cache ends with the same bits, and the emitted DMA walks the
    /// column with the row's shape.
    @Test func aCopyIntoAnHBMTensorIsForwardedFromTheStoredTile() throws {
        let program = Self.cacheRelay()
        let handed = program.handingOverOnChip(engine: .vector)
        #expect(!handed.buffers.contains { $0.name == "mid" })
        let x = HostTensor.random([1, 4], dtype: .bf16, seed: 7)
        let cache = HostTensor.random([4, 5], dtype: .bf16, seed: 8)
        let want = try Interpreter.call(program, inputs: [x, cache]).inputs[1]
        let got = try Interpreter.call(handed, inputs: [x, cache]).inputs[1]
        #expect(got.data.map(\.bitPattern) == want.data.map(\.bitPattern))
        #expect(got.data != cache.data)
        let source = NKIEmitter.function(handed)
        #expect(
            source.contains("nisa.dma_copy(dst=cache.ap(pattern=[[1, 1], [5, 4]], offset=3), src=tile)"), "\(source)")
    }
}
