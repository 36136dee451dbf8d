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
        #expect(throws: ExpressionError(message: "unexpected character '$'", column: 8)) {
            try Restriction("tile_n $ 2")
        }
        #expect(throws: ExpressionError(message: "expression ends early", column: 9)) { try Restriction("tile_n +") }
        #expect(throws: ExpressionError(message: "missing ')'", column: 9)) { try Restriction("(tile_n 3") }
        #expect(throws: ExpressionError(message: "unexpected ')'", column: 8)) { try Restriction("tile_n ) ") }
        #expect(throws: ExpressionError(message: "unknown name 'tile_q'", column: 1)) {
            try Restriction("tile_q > 1").holds { values[$0] }
        }
        #expect(throws: ExpressionError(message: "division by zero", column: 8)) {
            try Restriction("tile_n / 0").holds { values[$0] }
        }
        #expect(throws: ExpressionError(message: "empty expression", column: 1)) { try Restriction("  ") }
        // No calls, attributes or strings: a space file cannot run code.
        #expect(throws: ExpressionError.self) { try Restriction("__import__('os')") }
        #expect(throws: ExpressionError.self) { try Restriction("tile_n.bit_length()") }
    }
}
