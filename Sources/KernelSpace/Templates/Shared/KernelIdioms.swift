/// Statement sequences and rules several templates share.
enum KernelIdioms {
    /// The numerator of a row softmax: `exponentials = exp(scores - max(scores))`, with the row sums
    /// of the exponentials in `total` (ScalarE's fused reduction) and the row maxima in `largest`.
    /// RMSNorm's scale from sums of squares over `count` values each: `(sum / count + epsilon)^-0.5`
    /// into `dst`, on VectorE (every RMSNorm of the model computes its scale this way).
    static func inverseRMS(into dst: Access, sumOfSquares src: Access, count: Int, epsilon: Float) -> [Stmt] {
        [
            .op(
                .tensorScalar(
                    dst: dst, src: src,
                    steps: [ScalarStep(.divide, .immediate(Float(count))), ScalarStep(.add, .immediate(epsilon))],
                    engine: .vector)),
            .op(.tensorScalar(dst: dst, src: dst, steps: [ScalarStep(.power, .immediate(-0.5))], engine: .vector)),
        ]
    }

    /// Moves a PSUM tile into SBUF applying `function`: a copy on `engine` when there is no function
    /// to apply and `engine` is not ScalarE, else ScalarE's activation (which evicts as it applies).
    static func eviction(dst: Access, src: Access, function: ActivationFunction, engine: Engine) -> Instruction {
        function == .copy && engine != .scalar
            ? .copy(dst: dst, src: src, engine: engine)
            : .activation(dst: dst, src: src, function: function, scale: 1)
    }

    static func softmaxNumerator(
        scores: Access, exponentials: Access, largest: Access, negated: Access, total: Access
    ) -> [Stmt] {
        [
            .allocate(largest.buffer), .op(.tensorReduce(dst: largest, src: scores, op: .maximum)),
            .allocate(negated.buffer),
            .op(
                .tensorScalar(
                    dst: negated, src: largest, steps: [ScalarStep(.multiply, .immediate(-1))], engine: .vector)),
            .allocate(exponentials.buffer), .allocate(total.buffer),
            .op(.activation(dst: exponentials, src: scores, function: .exp, bias: negated, reduce: total)),
        ]
    }

    /// The token tile a one-token-at-a-time layout keeps (the smallest tile, as at T = 1).
    static let singleTokenTile = 32

    /// Why `tile_t` is not sensible: with a one-token-at-a-time layout (named `layout`) it must
    /// stay at ``singleTokenTile``; otherwise it must not be redundant for `tokens`.
    static func tokenTileRestriction(_ tile: Int, tokens: Int, oneTokenAtATime layout: String?) -> String? {
        guard let layout else {
            return redundantTile("tile_t", tile, covering: tokens, dimension: "T", smallest: singleTokenTile)
        }
        return tile == singleTokenTile
            ? nil : "tile_t has no effect with \(layout) (one token at a time); it stays at \(singleTokenTile)"
    }

    /// Why a tile is redundant for a dimension of `size`: it is larger than the smallest tile of
    /// the domain and its half already covers the dimension. Nil when the tile is useful.
    static func redundantTile(_ name: String, _ tile: Int, covering size: Int, dimension: String, smallest: Int)
        -> String?
    {
        tile > size && tile / 2 >= size && tile > smallest
            ? "\(name)=\(tile) is redundant: a smaller tile covers \(dimension)=\(size)" : nil
    }

    /// A smaller size of a dimension with the same structure for a numeric check: the whole size
    /// when it spans at most two blocks of `extent`, else one block plus the same remainder (or two
    /// whole blocks).
    static func checkSize(_ size: Int, extent: Int) -> Int {
        size <= 2 * extent ? size : extent + (size % extent == 0 ? extent : size % extent)
    }

    /// The `R` rows of `rows` (`[R, 128 F]`) laid out over the partitions in the interleaved order
    /// (`h = p F + f`) by `F` TensorE transposes, each taking every `F`-th element of every row
    /// (from `f`) into columns `R f ..< R (f + 1)` of a new PSUM tile `[128, R F]` named `name`.
    /// Returns the statements and where row `r` then lies (`[128, F]`, columns `r, r + R, ...`).
    /// Transposes through PSUM copy values exactly.
    static func interleavedRows(
        _ rows: BufferDecl, into name: String, _ b: inout ProgramBuilder
    ) -> (statements: [Stmt], row: (Int) -> Access) {
        let (count, free) = (rows.shape[0], rows.shape[1] / 128)
        let flipped = b.buffer(name, .psum, [128, count * free], .fp32)
        let f = b.variable(name + "_f")
        let transpose = Instruction.transpose(
            dst: Access(flipped, [.full(128), AffineRange(start: .term(f, count), size: count)]),
            src: Access(rows, [.full(count), AffineRange(start: .term(f), size: 128, stride: free)]))
        return (
            [.allocate(flipped.id), .loop(Loop(f, trips: free, body: [.op(transpose)]))],
            { Access(flipped, [.full(128), AffineRange(start: .const($0), size: free, stride: count)]) }
        )
    }
}
