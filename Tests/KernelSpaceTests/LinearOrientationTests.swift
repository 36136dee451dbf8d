import KernelSpace
import Testing

/// `w_operand=stationary` (one row of X): W held 128 x 128 at a time while X's column moves, K
/// interleaved over the partitions or in tiles of 128 (`k_order`); numerics parameters, checked
/// against the reference.
@Suite struct LinearOrientationTests {
    static let cases: [(kernel: String, problem: String)] = [
        ("qkv", "M=1,K=256,N=384,norm=1"), ("qkv", "M=1,K=512,N=512,norm=1,lnc=2"), ("o-proj", "M=1,K=256,N=512"),
        ("o-proj", "M=1,K=384,N=1024,lnc=2"), ("linear", "M=1,K=128,N=256,act=silu"),
    ]

    @Test(arguments: 0..<cases.count)
    func stationaryWeightsComputeTheReference(index: Int) throws {
        let (kernel, text) = Self.cases[index]
        let template = try #require(catalogTemplate(kernel))
        let space = SearchSpace(template)
        let problem = try template.parseProblem(text)
        let k = Int(text.split(separator: ",")[1].dropFirst(2)) ?? 0
        let blockK = [1, 2, 4, 8, 16, 32, 64].first { $0 * 128 >= k } ?? 1
        let split = text.contains("lnc=2") ? "columns" : "none"
        for (tileN, blockN) in [(128, 1), (128, 2), (256, 1)] {
            for (resident, order) in [("0", "interleaved"), ("1", "interleaved"), ("0", "tiles"), ("1", "tiles")] {
                let key =
                    "w_operand=stationary,tile_m=32,tile_k=128,block_k=\(blockK),tile_n=\(tileN),block_n=\(blockN),"
                    + "x_layout=tensor_transpose,split=\(split),w_resident=\(resident),"
                    + "w_bufs=\(resident == "1" ? 1 : 2),k_order=\(order)"
                let configuration = try space.parse(key)
                if let reason = template.restriction(configuration, for: problem) {
                    // Only a block that does not divide N, or K in tiles under a fused norm, may be refused.
                    let normInTiles = text.contains("norm=1") && order == "tiles"
                    #expect(
                        reason.contains("multiple of tile_n * block_n")
                            || (normInTiles && reason.contains("k_order must be interleaved")),
                        "\(text) \(key): \(reason)")
                    continue
                }
                let program = template.program(for: problem, configuration: configuration)
                #expect(ResourceCheck.violation(of: program, limits: trn2Limits) == nil, "\(text) \(key)")
                let check = NumericCheck.run(template, problem: problem, configuration: configuration)
                #expect(check.passed, "\(text) \(key): \(check.reason ?? "")")
            }
        }
    }

    /// X's row and the norm weight load whole onto one partition each, and K/128 TensorE
    /// transposes lay them out; each block of W loads in one DMA, and the finished blocks are
    /// transposed into whole rows for the store.
    @Test func xLoadsAsOneRowAndOnlyItsPiecesAndFinishedBlocksAreTransposed() throws {
        let template = try #require(catalogTemplate("qkv"))
        let problem = try template.parseProblem("M=1,K=2048,N=640,norm=1")
        let key = "w_operand=stationary,tile_m=32,tile_k=128,block_k=16,tile_n=128,x_layout=tensor_transpose"
        let configuration = try SearchSpace(template).parse(key)
        #expect(template.restriction(configuration, for: problem) == nil)
        let program = template.program(for: problem, configuration: configuration)
        var (transposes, loads, rowLoads, matmuls) = (0, 0, 0, 0)
        program.forEachInstruction { instruction, loops in
            let trips = loops.reduce(1) { $0 * $1.trips }
            switch instruction {
            case .transpose: transposes += trips
            case .dma(let dst, let src, _) where program.buffers[src.buffer].memory == .hbm:
                loads += trips
                if program.buffers[dst.buffer].name == "x_row" { rowLoads += trips }
            case .matmul: matmuls += trips
            default: break
            }
        }
        // 16 pieces of the rows and five blocks of 128 columns; five weight loads, X and the norm
        // weight, both into the row tile.
        #expect(transposes == 16 + 5 && loads == 7 && rowLoads == 2, "transposes \(transposes), loads \(loads)")
        // 16 K tiles x 5 column tiles, and the cross-partition sum of squares.
        #expect(matmuls == 16 * 5 + 1)
    }

    /// A bf16 row is laid out by TensorE transposes, an fp32 row by its reshaping DMA; with the
    /// same bf16 values the products and sums are the same, so the bf16 output is the fp32
    /// output rounded once, to the bit: the transposes put every element where the DMA does.
    @Test(arguments: ["M=1,K=2048,N=256", "M=1,K=384,N=512,lnc=2"])
    func aTransposedRowIsTheReshapedRowToTheBit(text: String) throws {
        let template = try #require(catalogTemplate("o-proj"))
        let problem = try template.parseProblem(text)
        let wide = try template.parseProblem(text + ",dtype=fp32")
        let k = problem["K"]?.intValue ?? 0
        let key =
            "w_operand=stationary,tile_m=32,tile_k=128,block_k=\([1, 2, 4, 8, 16].first { $0 * 128 >= k } ?? 1),"
            + "tile_n=128,x_layout=tensor_transpose,split=\(text.contains("lnc=2") ? "columns" : "none")"
        let configuration = try SearchSpace(template).parse(key)
        #expect(template.restriction(configuration, for: problem) == nil)
        #expect(template.restriction(configuration, for: wide) == nil)
        func rowLoads(_ program: KernelProgram) -> Int {
            var count = 0
            program.forEachInstruction { instruction, _ in
                if case .dma(let dst, _, _) = instruction, program.buffers[dst.buffer].name == "x_row" { count += 1 }
            }
            return count
        }
        let (narrow, reshaped) = (
            template.program(for: problem, configuration: configuration),
            template.program(for: wide, configuration: configuration)
        )
        #expect(rowLoads(narrow) == 1 && rowLoads(reshaped) == 0)
        let inputs = template.arguments(
            template.inputs(for: problem, seed: 5), problem: problem, configuration: configuration)
        let got = try Interpreter.run(narrow, inputs: inputs)[0]
        let want = try Interpreter.run(reshaped, inputs: inputs)[0].data.map(DType.roundToBF16)
        let differing = zip(got.data, want).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(got.data.count == want.count && differing == 0, "\(differing) of \(want.count) differ")
    }

    /// The emitted layout of X's row and the norm weight's: one strided transpose per K tile into
    /// adjacent PSUM columns, then one strided copy per row.
    @Test func theTransposedRowIsEmittedAsStridedAccessPatterns() throws {
        let template = try #require(catalogTemplate("qkv"))
        let problem = try template.parseProblem("M=1,K=2048,N=640,norm=1")
        let configuration = try SearchSpace(template).parse(
            "w_operand=stationary,tile_m=32,tile_k=128,block_k=16,tile_n=128,x_layout=tensor_transpose")
        let source = NKIEmitter.function(template.program(for: problem, configuration: configuration))
        for line in [
            "nisa.nc_transpose(dst=x_t_psum[0:128, x_t_psum_f * 2:x_t_psum_f * 2 + 2], "
                + "data=x_row.ap(pattern=[[2048, 2], [16, 128]], offset=x_t_psum_f), engine=nisa.engine.tensor)",
            "nisa.tensor_copy(dst=x_t, src=x_t_psum.ap(pattern=[[32, 128], [2, 16]], offset=0), "
                + "engine=nisa.engine.vector)",
            "nisa.tensor_copy(dst=norm_weight_t, src=x_t_psum.ap(pattern=[[32, 128], [2, 16]], offset=1), "
                + "engine=nisa.engine.vector)",
        ] {
            #expect(source.contains(line), "missing: \(line)")
        }
    }

    @Test func stationaryWeightsNeedOneRowAndWholeTiles() throws {
        let template = try #require(catalogTemplate("o-proj"))
        let space = SearchSpace(template)
        let base = "w_operand=stationary,tile_k=128,block_k=2,tile_n=128,x_layout=tensor_transpose"
        let cases: [(String, String, String)] = [
            ("M=40,K=256,N=512", base + ",tile_m=64", "M must be 1 (M=40)"),
            ("M=1,K=200,N=512", base + ",tile_m=32", "K=200 must be a multiple of 128"),
            ("M=1,K=256,N=512", base + ",tile_m=32,x_layout=pretransposed", "x_layout must be tensor_transpose"),
            ("M=1,K=256,N=512", base + ",tile_m=32,loop_order=kmn", "loop_order=kmn has no effect"),
            ("M=1,K=256,N=384", base + ",tile_m=32,tile_n=256", "N=384 must be a multiple of tile_n * block_n=256"),
            ("M=40,K=256,N=512", "tile_m=32,k_order=tiles", "k_order=tiles has no effect with w_operand=moving"),
        ]
        for (problemText, key, message) in cases {
            let reason = template.restriction(try space.parse(key), for: try template.parseProblem(problemText))
            #expect(reason?.contains(message) == true, "\(problemText) \(key): \(reason ?? "nil")")
        }
    }
}
