import KernelSpace
import Testing

@Suite struct LinearTemplateTests {
    let template = LinearTemplate()
    let space = SearchSpace(LinearTemplate())

    @Test func tutorialVersionsAreConfigurations() throws {
        let problem = try template.parseProblem("M=4096,K=8192,N=8192")
        for (name, key) in tutorialConfigurations {
            let configuration = try space.parse(key)
            #expect(template.restriction(configuration, for: problem) == nil, "\(name)")
            let program = template.program(for: problem, configuration: configuration)
            #expect(ResourceCheck.violation(of: program, limits: trn2Limits) == nil, "\(name)")
        }
    }

    @Test func keysRoundTrip() throws {
        for index in space.sampleIndices(count: 50, seed: 1) {
            let configuration = space.configuration(at: index)
            #expect(try space.parse(configuration.key) == configuration)
        }
    }

    @Test func badKeysNameTheBadPart() {
        #expect(throws: KernelSpaceError(.configuration, "unknown parameter 'tile_q' for kernel linear")) {
            try space.parse("tile_q=4")
        }
        #expect(
            throws: KernelSpaceError(
                .configuration, "value tile_m=100 is not in the space of linear (allowed: 32, 64, 128)")
        ) { try space.parse("tile_m=100") }
    }

    @Test func badProblemsNameTheBadValue() {
        #expect(throws: KernelSpaceError(.problem, "problem dimension M=abc is not an integer")) {
            try template.parseProblem("M=abc,K=1,N=1")
        }
        #expect(throws: KernelSpaceError(.problem, "problem is missing dimension 'N'")) {
            try template.parseProblem("M=1,K=1")
        }
        #expect(throws: KernelSpaceError(.problem, "unknown problem dimension 'Q' (expected M, K, N, act, dtype, lnc)"))
        {
            try template.parseProblem("M=1,K=1,N=1,Q=2")
        }
        #expect(throws: KernelSpaceError(.problem, "problem dimension K=0 must be positive")) {
            try template.parseProblem("M=1,K=0,N=1")
        }
        #expect(throws: KernelSpaceError(.problem, "problem dimension K=-3 must be positive")) {
            try template.parseProblem("M=1,K=-3,N=1")
        }
    }

    @Test func sbufOverflowIsRejectedWithNumbers() throws {
        let problem = try template.parseProblem("M=4096,K=8192,N=8192")
        let configuration = try space.parse(
            "tile_m=128,tile_k=128,tile_n=512,block_m=16,block_k=8,block_n=2,loop_order=nkm,x_bufs=3,w_bufs=3")
        let program = template.program(for: problem, configuration: configuration)
        let reason = ResourceCheck.violation(of: program, limits: trn2Limits)
        #expect(reason == "needs 280,576 B of SBUF per partition; trn2 has 212,728")
    }

    @Test func dmaTransposeNeedsTrn2() throws {
        let problem = try template.parseProblem("M=256,K=256,N=512")
        let configuration = try space.parse("x_layout=dma_transpose")
        let program = template.program(for: problem, configuration: configuration)
        var trn1 = trn2Limits
        trn1.target = "trn1"
        trn1.hasDMATranspose = false
        #expect(ResourceCheck.violation(of: program, limits: trn1) == "DMA transpose is not available on trn1")
        #expect(ResourceCheck.violation(of: program, limits: trn2Limits) == nil)
    }

    @Test func redundantBlocksAreRestricted() throws {
        let problem = try template.parseProblem("M=640,K=2048,N=768")
        let configuration = try space.parse("block_m=16")
        #expect(
            template.restriction(configuration, for: problem)
                == "block_m=16 is redundant: block_m=8 already covers M=640 with tile_m=128")
    }
}
