import Autotune
import Foundation
import KernelSpace
import MoEModel
import Testing

@Suite struct SpaceFileTests {
    let template = LinearTemplate()

    func parse(_ text: String) throws -> SearchSpace {
        try SpaceFile.parse(text, file: "linear.yaml", template: template)
    }

    @Test(arguments: catalog.map(\.id))
    func shippedFileIsTheRenderedBuiltInSpace(kernel: String) throws {
        let template = try #require(catalogTemplate(kernel))
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../spaces"
        )
        .standardized.path
        let shipped = try String(contentsOfFile: directory + "/\(kernel).yaml", encoding: .utf8)
        #expect(
            shipped == SpaceFile.render(template),
            "spaces/\(kernel).yaml differs: run nkitune kernels --write-spaces spaces")
        let space = try SpaceFile.parse(shipped, file: "\(kernel).yaml", template: template)
        #expect(space.parameters == template.parameters)
        #expect(space.restrictions.isEmpty)
    }

    /// The strategy benchmark's narrowed spaces of the fused blocks load, and drawn stage by stage
    /// at the contest deployment every draw is valid: narrowing left no stage without a sensible
    /// variant under some value of the block's own parameters (such draws fall back to uniform
    /// ones, most of them invalid, after thousands of tries).
    @Test(arguments: ["moe-block-decode", "attention-block-decode"])
    func benchmarkBlockSpacesDrawOnlyValidConfigurations(kernel: String) throws {
        let block = try #require(
            Deployment(model: .qwen3MoE30BA3B, target: "trn2").fusedBlocks(.decode).first {
                $0.call.template.id == kernel
            })
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../bench/spaces"
        )
        .standardized.path
        let space = try SpaceFile.space(for: block.call.template, in: directory)
        #expect(space.size == 49_152)
        var draws = SpaceDraws(space: space, problem: block.call.problem, seed: 1)
        for _ in 0..<64 {
            let index = draws.next()
            let configuration = space.configuration(at: try #require(index))
            #expect(space.exclusion(configuration, for: block.call.problem) == nil, "\(configuration)")
        }
    }

    @Test func missingFileMeansTheBuiltInSpace() throws {
        let space = try SpaceFile.space(for: template, in: "/nonexistent-nkitune-spaces")
        #expect(space.parameters == template.parameters)
    }

    @Test func narrowsDomainsAndAddsRestrictions() throws {
        let space = try parse(
            """
            version: 1
            kernel: linear
            parameters:
              tile_n: [512]
              block_k: {range: [2, 16], powers_of_two: true}
              loop_order: [MKN, nkm]
            restrictions:
              - block_k * tile_k <= K
              - "block_m <= 2"
            """)
        #expect(space.parameters.first { $0.name == "tile_n" }?.domain == .ints([512]))
        #expect(space.parameters.first { $0.name == "block_k" }?.domain == .ints([2, 4, 8, 16]))
        #expect(space.parameters.first { $0.name == "loop_order" }?.domain == .choices(["mkn", "nkm"]))
        #expect(space.defaultConfiguration["loop_order"] == .choice("mkn"))
        let problem = try template.parseProblem("M=640,K=256,N=768")
        let candidates = Strategy.exhaustive.candidates(in: space, for: problem, budget: nil, seed: 1)
        #expect(!candidates.isEmpty)
        for configuration in candidates {
            let value = { (name: String) in configuration[name].intValue ?? 0 }
            #expect(value("tile_n") == 512)
            #expect(value("block_k") * value("tile_k") <= 256)
            #expect(value("block_m") <= 2)
        }
    }

    @Test func errorsGiveFileLineColumnAndTheOffendingPart() {
        let cases: [(String, String)] = [
            (
                "version: 1\nkernel: linear\nparameters:\n  tile_q: [1]\n",
                "linear.yaml:4:3: unknown parameter 'tile_q' for kernel linear (expected one of: tile_m, tile_k, tile_n, block_m, block_k, block_n, loop_order, x_bufs, w_bufs, acc_dtype, evict_engine, x_layout, split, w_resident, w_operand, k_order)"
            ),
            (
                "version: 1\nkernel: linear\nparameters:\n  tile_n: [128, abc]\n",
                "linear.yaml:4:17: value 'abc' of tile_n is not an integer from 1 to 16777216"
            ),
            (
                "version: 1\nkernel: linear\nparameters:\n  evict_engine: [vector, tensor]\n",
                "linear.yaml:4:26: value 'tensor' of evict_engine is not one of vector, scalar"
            ),
            (
                "version: 1\nkernel: linear\nrestrictions:\n  - tile_n % 128 == 0 and $\n",
                "linear.yaml:4:27: unexpected character '$' in 'tile_n % 128 == 0 and $'"
            ),
            (
                "version: 1\nkernel: linear\nrestrictions:\n  - tile_n < Q\n",
                "linear.yaml:4:5: unknown name 'Q' in 'tile_n < Q'"
            ),
            (
                "version: 1\nkernel: linear\nrestrictions:\n  - x_layout > 1\n",
                "linear.yaml:4:5: 'x_layout' is a choice parameter; restrictions take numbers"
            ),
            ("version: 1\nkernel: rmsnorm\n", "linear.yaml:2:9: file is for kernel 'rmsnorm', expected 'linear'"),
            ("version: 2\nkernel: linear\n", "linear.yaml:1:10: unsupported version '2' (expected 1)"),
            (
                "version: 1\nkernel: linear\ntunables: {}\n",
                "linear.yaml:3:1: unknown key 'tunables' (expected version, kernel, parameters, restrictions)"
            ),
            ("kernel: linear\n", "linear.yaml:1:1: missing key 'version'"),
        ]
        for (text, message) in cases {
            #expect(throws: AutotuneError(.spaceFile, message)) { try parse(text) }
        }
        #expect(throws: AutotuneError.self) { try parse("version: 1\nparameters: [\n") }
    }
}
