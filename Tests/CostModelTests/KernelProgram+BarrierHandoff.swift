import KernelSpace

extension KernelProgram {
    /// A two-core hand-off through HBM: each core loads its half of `x [128, 1024]`, stores it
    /// into `scratch`, meets the other at a barrier on `scratch`, reads its half back and stores
    /// it into `y`.
    static func barrierHandoff() -> KernelProgram {
        var b = ProgramBuilder()
        let x = b.buffer("x", .hbm, [128, 1024], .bf16, role: .input(0))
        let scratch = b.buffer("scratch", .hbm, [128, 2048], .bf16)
        let y = b.buffer("y", .hbm, [128, 1024], .bf16, role: .output)
        let tile = b.buffer("tile", .sbuf, [128, 512], .bf16)
        let core = b.coreIndex()
        let rows = AffineRange.full(128)
        let half = AffineRange(start: .term(core, 512), size: 512)
        let body: [Stmt] = [
            .allocate(tile.id),
            .op(.dma(dst: Access(tile, [rows, .full(512)]), src: Access(x, [rows, half]), queue: 0)),
            .op(.dma(dst: Access(scratch, [rows, half]), src: Access(tile, [rows, .full(512)]), queue: 0)),
            .barrier(scratch.id),
            .op(.dma(dst: Access(tile, [rows, .full(512)]), src: Access(scratch, [rows, half]), queue: 0)),
            .op(.dma(dst: Access(y, [rows, half]), src: Access(tile, [rows, .full(512)]), queue: 0)),
        ]
        return b.program(name: "barrier_kernel", body: body, cores: 2, coreVariable: core)
    }
}
