/// Where the new token's key and value (`[1, kv_heads d]`) go in the KV caches: row `S - 1` of
/// each KV head's block, or that column of a transposed K cache.
struct CacheLayout {
    let keyValueHeads: Int
    let positions: Int
    let headDim: Int
    let keysTransposed: Bool

    /// The program writing the values (`v_new`, `v_cache`) or the keys (`k_new`, `k_cache`), HBM
    /// to HBM.
    func write(values: Bool) -> KernelProgram {
        let d = headDim
        var b = ProgramBuilder()
        let new = b.buffer(values ? "v_new" : "k_new", .hbm, [1, keyValueHeads * d], .bf16, role: .input(0))
        let cache =
            values
            ? b.buffer("v_cache", .hbm, [keyValueHeads * positions, d], .bf16, role: .input(1))
            : keysTransposed
                ? b.buffer("k_cache_t", .hbm, [keyValueHeads * d, positions], .bf16, role: .input(1))
                : b.buffer("k_cache", .hbm, [keyValueHeads * positions, d], .bf16, role: .input(1))
        var body: [Stmt] = []
        for head in 0..<keyValueHeads {
            let columns = [AffineRange.full(1), AffineRange(start: .const(head * d), size: d)]
            let row = [AffineRange.index(.const(head * positions + positions - 1)), .full(d)]
            let column = [AffineRange(start: .const(head * d), size: d), .index(.const(positions - 1))]
            let destination = !values && keysTransposed ? column : row
            body.append(.op(.dma(dst: Access(cache, destination), src: Access(new, columns), queue: values ? 1 : 0)))
        }
        return b.program(name: values ? "value_write" : "key_write", body: body)
    }
}
