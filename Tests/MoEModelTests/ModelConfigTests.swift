import MoEModel
import Testing

@Suite struct ModelConfigTests {
    let model = ModelConfig.qwen3MoE30BA3B

    @Test func perTokenMACsMatchTheReferenceFigures() {
        // shared/reference/qwen3-moe.md: QKV 10.5 M, O 8.4 M, router 0.26 M, experts 37.7 M per layer.
        let layer = model.layerMACsPerToken(cachedPositions: 0)
        #expect(layer == 2048 * 5120 + 4096 * 2048 + 2048 * 128 + 8 * 3 * 2048 * 768)
        let whole = Double(layer * model.layers + model.lmHeadMACsPerToken) / 1e9
        #expect(whole > 2.9 && whole < 3.1)  // "about 3.0 G MACs per decoded token"
        let attention = model.layerMACsPerToken(cachedPositions: 100) - layer
        #expect(attention == 2 * 32 * 128 * 100)
    }
}
