import Foundation
import MoEModel
import Testing

@Suite struct InventoryTests {
    let deployment = Deployment(model: .qwen3MoE30BA3B, target: "trn2")

    @Test func perRankShapesFollowTheContestDeployment() {
        #expect(deployment.queryHeads == 8)
        #expect(deployment.keyValueHeads == 1)
        #expect(deployment.expertColumns == 192)
        #expect(deployment.vocabularySlice == 37_984)
        #expect(deployment.problem == nil)
        #expect(
            Deployment(model: .qwen3MoE30BA3B, target: "trn2", tensorParallel: 3).problem
                == "tensor parallel degree 3 does not divide 32 attention heads")
    }

    @Test func decodeMACsAddUpToTheModelPerRank() {
        let calls = deployment.inventory(.decode)
        let total = calls.reduce(0) { $0 + $1.macs }
        let model = ModelConfig.qwen3MoE30BA3B
        let perToken = model.layerMACsPerToken(cachedPositions: deployment.decodePosition) * model.layers
        // Every product is split evenly over the 4 ranks except the router, which each rank runs whole.
        let router = model.hiddenSize * model.experts * model.layers
        let expected = (perToken - router) / 4 + router + model.lmHeadMACsPerToken / 4
        #expect(total == expected)
        #expect(calls.filter { $0.kernel == "rmsnorm" }.map(\.count) == [48, 48, 1])
        #expect(calls.first { $0.kernel == "expert-mlp-decode" }?.macsPerCall == 8 * 3 * 2048 * 192)
    }

    @Test func prefillScalesWithThePrompt() {
        let short = Deployment(model: .qwen3MoE30BA3B, target: "trn2", promptLength: 64).inventory(.prefill)
        let long = Deployment(model: .qwen3MoE30BA3B, target: "trn2", promptLength: 128).inventory(.prefill)
        let qkvShort = short.first { $0.kernel == "qkv" }!.macs
        let qkvLong = long.first { $0.kernel == "qkv" }!.macs
        #expect(qkvLong == 2 * qkvShort)
        let attentionShort = short.first { $0.kernel == "attention-prefill" }!.macs
        let attentionLong = long.first { $0.kernel == "attention-prefill" }!.macs
        #expect(attentionLong > 3 * attentionShort)  // causal: about quadratic
    }

    @Test func configJSONLoadsAndNamesMissingKeys() throws {
        let json = """
            {"hidden_size": 2048, "num_hidden_layers": 48, "num_attention_heads": 32, "num_key_value_heads": 4,
             "head_dim": 128, "num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 768,
             "vocab_size": 151936, "rope_theta": 1000000.0, "rms_norm_eps": 1e-06, "norm_topk_prob": true,
             "architectures": ["Qwen3MoeForCausalLM"]}
            """
        var loaded = try ModelConfig(json: Data(json.utf8), name: "config.json")
        loaded.name = ModelConfig.qwen3MoE30BA3B.name
        #expect(loaded == ModelConfig.qwen3MoE30BA3B)
        let missing = json.replacingOccurrences(of: "\"num_experts\": 128, ", with: "")
        #expect(throws: ModelConfigError(message: "config.json is missing key 'num_experts'")) {
            try ModelConfig(json: Data(missing.utf8), name: "config.json")
        }
        let wrong = json.replacingOccurrences(of: "\"hidden_size\": 2048", with: "\"hidden_size\": \"big\"")
        #expect(throws: ModelConfigError(message: "config.json: key 'hidden_size' must be a positive integer")) {
            try ModelConfig(json: Data(wrong.utf8), name: "config.json")
        }
        #expect(throws: ModelConfigError(message: "config.json: not valid JSON")) {
            try ModelConfig(json: Data("{".utf8), name: "config.json")
        }
    }
}
