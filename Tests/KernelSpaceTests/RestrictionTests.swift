import KernelSpace
import Testing

@Suite struct RestrictionTests {
    let values = ["tile_n": 256, "block_k": 4, "tile_k": 128, "K": 2048, "M": 640]

    func holds(_ text: String) throws -> Bool {
        try Restriction(text).holds { values[$0] }
    }

    @Test func evaluatesArithmeticComparisonsAndLogic() throws {
        #expect(try holds("tile_n % 128 == 0 and block_k * tile_k <= K"))
        #expect(try !holds("tile_n % 512 == 0"))
        #expect(try holds("not (M < 100) or K == 1"))
        #expect(try holds("-tile_n + 2 * 128 == 0"))
        #expect(try holds("(M + 127) / 128 == 5"))
        #expect(try holds("1 < 2 and 2 >= 2 and 3 != 4 and 5 > 4 and 4 <= 4"))
        #expect(try Restriction("block_k * tile_k <= K").names == ["block_k", "tile_k", "K"])
    }

    @Test func errorsPointAtTheColumn() {
        #expect(throws: KernelSpaceError(.expression(column: 8), "unexpected character '$'")) {
            try Restriction("tile_n $ 2")
        }
        #expect(throws: KernelSpaceError(.expression(column: 9), "expression ends early")) {
            try Restriction("tile_n +")
        }
        #expect(throws: KernelSpaceError(.expression(column: 9), "missing ')'")) { try Restriction("(tile_n 3") }
        #expect(throws: KernelSpaceError(.expression(column: 8), "unexpected ')'")) { try Restriction("tile_n ) ") }
        #expect(throws: KernelSpaceError(.expression(column: 1), "unknown name 'tile_q'")) {
            try Restriction("tile_q > 1").holds { values[$0] }
        }
        #expect(throws: KernelSpaceError(.expression(column: 8), "division by zero")) {
            try Restriction("tile_n / 0").holds { values[$0] }
        }
        #expect(throws: KernelSpaceError(.expression(column: 1), "empty expression")) { try Restriction("  ") }
        // No calls, attributes or strings: a space file cannot run code.
        #expect(throws: KernelSpaceError.self) { try Restriction("__import__('os')") }
        #expect(throws: KernelSpaceError.self) { try Restriction("tile_n.bit_length()") }
    }
}

@Suite struct RestrictionLimitTests {
    func evaluate(_ text: String) throws -> Bool {
        try Restriction(text).holds { ["x": 3, "big": Int.max][$0] }
    }

    @Test func overflowIsAnErrorNamingTheOperation() {
        let minimum = "(0 - 9223372036854775807 - 1)"
        let cases: [(String, String)] = [
            ("big + 1 > 0", "integer overflow in 9223372036854775807 + 1"),
            ("big * x > 0", "integer overflow in 9223372036854775807 * 3"),
            ("\(minimum) / -1 > 0", "integer overflow in -9223372036854775808 / -1"),
            ("\(minimum) % -1 > 0", "integer overflow in -9223372036854775808 % -1"),
            ("-\(minimum) > 0", "integer overflow in -(-9223372036854775808)"),
        ]
        for (text, message) in cases {
            #expect {
                try evaluate(text)
            } throws: { error in
                (error as? KernelSpaceError)?.message == message + " (values must stay within ±9223372036854775807)"
            }
        }
        #expect(throws: KernelSpaceError(.expression(column: 1), "number too large")) {
            try Restriction("9223372036854775808 > 0")
        }
    }

    @Test func depthAndLengthAreBounded() {
        let nested = String(repeating: "(", count: 100_000) + "1" + String(repeating: ")", count: 100_000)
        #expect(throws: KernelSpaceError.self) { try Restriction(nested) }
        let deep = String(repeating: "(", count: 65) + "1" + String(repeating: ")", count: 65)
        #expect(
            throws: KernelSpaceError(.expression(column: 65), "expression nests deeper than the limit of 64 levels")
        ) {
            try Restriction(deep)
        }
        let negations = String(repeating: "- ", count: 300) + "1 > 0"
        #expect(throws: KernelSpaceError.self) { try Restriction(negations) }
        let terms = Array(repeating: "x", count: 50_000).joined(separator: " + ")
        #expect(
            throws: KernelSpaceError(
                .expression(column: 1025), "expression is \(terms.count) characters long, over the limit of 1024")
        ) { try Restriction(terms) }
    }

    @Test func nestingWithinTheLimitEvaluates() throws {
        #expect(try evaluate(String(repeating: "(", count: 60) + "x" + String(repeating: ")", count: 60) + " == 3"))
    }

    @Test func anErroringRestrictionSaysWhyItExcludes() throws {
        let template = LinearTemplate()
        let space = SearchSpace(
            template, parameters: template.parameters, restrictions: [try Restriction("tile_n / 0 > 1")])
        let problem = try template.parseProblem("M=640,K=2048,N=768")
        #expect(
            space.exclusion(space.defaultConfiguration, for: problem)
                == "restriction 'tile_n / 0 > 1' cannot be evaluated: division by zero at column 8")
    }
}

@Suite struct ProblemLimitTests {
    @Test func sizesAndTheirProductAreBounded() {
        let fields = LinearTemplate().problemFields
        #expect(
            throws: KernelSpaceError(.problem, "problem dimension M=9223372036854775807 is over the limit of 16777216")
        ) {
            try fields.parse("M=9223372036854775807,K=1,N=1")
        }
        #expect(throws: KernelSpaceError(.problem, "problem dimension M=99999999999999999999 is not an integer")) {
            try fields.parse("M=99999999999999999999,K=1,N=1")
        }
        #expect(
            throws: KernelSpaceError(
                .problem,
                "problem M=1000000,K=1000000,N=1000000,act=none,dtype=bf16,lnc=1 is too large: the product of its "
                    + "sizes is over the limit of 281474976710656 (2^48)")
        ) { try fields.parse("M=1000000,K=1000000,N=1000000") }
    }

    @Test func programsOverTheInstructionBudgetAreInvalid() throws {
        let template = LinearTemplate()
        let problem = try template.parseProblem("M=60000,K=60000,N=60000")
        let program = template.program(for: problem, configuration: template.defaultConfiguration)
        #expect(program.executedInstructions > ResourceCheck.maximumInstructions)
        let reason = try #require(
            ResourceCheck.violation(
                of: program,
                limits: .init(
                    target: "trn2", partitions: 128, sbufBytesPerPartition: 1 << 20, psumBanks: 8, psumBankBytes: 2048,
                    matmulMaxMoving: 512, hasDMATranspose: true, coresPerProgram: 2)))
        #expect(reason.hasSuffix("instructions, over the limit of 4,000,000 per kernel (split the problem)"))
        let small = template.program(
            for: try template.parseProblem("M=640,K=2048,N=768"), configuration: template.defaultConfiguration)
        #expect(small.executedInstructions < 10_000)
    }
}
