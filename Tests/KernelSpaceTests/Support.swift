import KernelSpace

/// Largest |got - want| relative to the largest |want|, or infinity when NaN shows up.
func relativeError(_ got: HostTensor, _ want: HostTensor) -> Float {
    precondition(got.shape == want.shape)
    var worst: Float = 0
    var scale: Float = 1e-6
    for (a, b) in zip(got.data, want.data) {
        if a.isNaN || b.isNaN { return .infinity }
        worst = max(worst, abs(a - b))
        scale = max(scale, abs(b))
    }
    return worst / scale
}

/// Valid configurations of `space` for `problem` (a seeded sample of `limit` where there are more).
/// A fused block's space is drawn stage by stage (``SpaceDraws``): uniform draws of its product
/// are almost all refused.
func validConfigurations(_ space: SearchSpace, _ problem: Problem, limit: Int, seed: UInt64) -> [Configuration] {
    var result: [Configuration] = []
    // A block's space is drawn stage by stage; uniform draws of its product are almost all refused.
    var staged = space.template is any StagedTemplate ? SpaceDraws(space: space, problem: problem, seed: seed) : nil
    var generator = SplitMix64(seed: seed)
    var seen = Set<Int>()
    let total = space.size
    var attempts = 0
    while result.count < limit && seen.count < total && attempts < limit * 20000 {
        attempts += 1
        let index: Int
        if staged != nil {
            guard let next = staged?.next() else { break }
            index = next
        } else {
            index = total <= limit * 4 ? seen.count : Int(generator.next() % UInt64(total))
        }
        guard seen.insert(index).inserted else { continue }
        let configuration = space.configuration(at: index)
        if space.template.restriction(configuration, for: problem) == nil { result.append(configuration) }
    }
    return result
}

let trn2Limits = ResourceLimits(
    target: "trn2", partitions: 128, sbufBytesPerPartition: 212_728, psumBanks: 8, psumBankBytes: 2048,
    matmulMaxMoving: 512, hasDMATranspose: true, coresPerProgram: 2)

/// The four configurations of the NKI matrix-multiplication tutorial (lhsT passed transposed).
let tutorialConfigurations: [String: String] = [
    "tiled":
        "tile_m=128,tile_k=128,tile_n=512,block_m=1,block_k=1,block_n=1,loop_order=mnk,x_bufs=2,w_bufs=2,x_layout=pretransposed",
    "hoisted":
        "tile_m=128,tile_k=128,tile_n=512,block_m=1,block_k=64,block_n=1,loop_order=mkn,x_bufs=2,w_bufs=2,x_layout=pretransposed",
    "blocked":
        "tile_m=128,tile_k=128,tile_n=512,block_m=2,block_k=64,block_n=2,loop_order=mkn,x_bufs=1,w_bufs=1,x_layout=pretransposed",
    "optimised":
        "tile_m=128,tile_k=128,tile_n=512,block_m=16,block_k=8,block_n=2,loop_order=nkm,x_bufs=1,w_bufs=1,x_layout=pretransposed",
]
