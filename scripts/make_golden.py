#!/usr/bin/env python3
"""Golden vectors for nkitune's templates from Hugging Face transformers' own Qwen3-MoE modules.

Rerun with:  pip install torch transformers && python3 scripts/make_golden.py
Writes Tests/KernelSpaceTests/Fixtures/golden.json: for each module, the problem text of the matching
nkitune template, its inputs in the template's argument order and layout, and the module's outputs.
Not run in CI (torch is large); the Swift tests read the committed file.
"""
import json
import pathlib

import torch
import transformers
from transformers.models.qwen3_moe import modeling_qwen3_moe as qwen
from transformers.models.qwen3_moe.configuration_qwen3_moe import Qwen3MoeConfig

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/KernelSpaceTests/Fixtures/golden.json"

CONFIG = Qwen3MoeConfig(
    hidden_size=64, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
    num_experts=16, num_experts_per_tok=8, moe_intermediate_size=32, vocab_size=100,
    rms_norm_eps=1e-6, rope_theta=1_000_000.0, norm_topk_prob=True, max_position_embeddings=640,
)


def bf16(*shape, scale=1.0):
    """Uniform values in [-scale, scale), representable in bf16."""
    return ((torch.rand(*shape) * 2 - 1) * scale).to(torch.bfloat16)


def tensor(t):
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def rmsnorm_cases():
    tokens, hidden = 5, CONFIG.hidden_size
    norm = qwen.Qwen3MoeRMSNorm(hidden, eps=CONFIG.rms_norm_eps).to(torch.bfloat16)
    with torch.no_grad():
        norm.weight.copy_(bf16(hidden))
    x, r = bf16(tokens, hidden), bf16(tokens, hidden)
    plain = norm(x)
    summed = x + r  # the decoder layer's residual add, in bf16
    weight = norm.weight.reshape(1, hidden)
    return {
        "rmsnorm": {"kernel": "rmsnorm", "problem": f"T={tokens},H={hidden}",
                    "inputs": [tensor(x), tensor(weight)], "outputs": [tensor(plain)]},
        "rmsnorm-residual": {"kernel": "rmsnorm", "problem": f"T={tokens},H={hidden},residual=1",
                             "inputs": [tensor(x), tensor(r), tensor(weight)],
                             "outputs": [tensor(norm(summed)), tensor(summed)]},
    }


def qk_norm_rope_case():
    tokens, start, d = 6, 37, CONFIG.head_dim
    q_heads, kv_heads = CONFIG.num_attention_heads, CONFIG.num_key_value_heads
    attention = qwen.Qwen3MoeAttention(CONFIG, layer_idx=0).to(torch.bfloat16)
    with torch.no_grad():
        attention.q_norm.weight.copy_(bf16(d))
        attention.k_norm.weight.copy_(bf16(d))
    rotary = qwen.Qwen3MoeRotaryEmbedding(CONFIG)
    q, k = bf16(tokens, q_heads * d), bf16(tokens, kv_heads * d)
    positions = torch.arange(start, start + tokens).unsqueeze(0)
    cos, sin = rotary(q, positions)  # [1, T, d], bf16
    qn = attention.q_norm(q.view(1, tokens, q_heads, d)).transpose(1, 2)
    kn = attention.k_norm(k.view(1, tokens, kv_heads, d)).transpose(1, 2)
    q_out, k_out = qwen.apply_rotary_pos_emb(qn, kn, cos, sin)
    return {"kernel": "qk-norm-rope",
            "problem": f"T={tokens},q_heads={q_heads},kv_heads={kv_heads},d={d},pos={start}",
            "inputs": [tensor(q), tensor(k), tensor(attention.q_norm.weight.reshape(1, d)),
                       tensor(attention.k_norm.weight.reshape(1, d)), tensor(cos[0]), tensor(sin[0])],
            "outputs": [tensor(q_out.transpose(1, 2).reshape(tokens, q_heads * d)),
                        tensor(k_out.transpose(1, 2).reshape(tokens, kv_heads * d))]}


def router_case():
    tokens, hidden = 7, CONFIG.hidden_size
    router = qwen.Qwen3MoeTopKRouter(CONFIG)  # fp32: the contest computes router logits and softmax in fp32
    with torch.no_grad():
        router.weight.copy_(bf16(CONFIG.num_experts, hidden).float())
    x = bf16(tokens, hidden).float()
    _, weights, indices = router(x)
    return {"kernel": "router",
            "problem": f"T={tokens},H={hidden},E={CONFIG.num_experts},k={CONFIG.num_experts_per_tok}",
            "inputs": [tensor(x), tensor(router.weight.t())],
            "outputs": [tensor(weights), tensor(indices)]}


def experts_decode_case():
    tokens, hidden, columns, experts, k = 2, CONFIG.hidden_size, CONFIG.moe_intermediate_size, CONFIG.num_experts, 4
    block = qwen.Qwen3MoeExperts(CONFIG).to(torch.bfloat16)
    with torch.no_grad():
        block.gate_up_proj.copy_(bf16(experts, 2 * columns, hidden, scale=0.25))
        block.down_proj.copy_(bf16(experts, hidden, columns, scale=0.25))
    x = bf16(tokens, hidden)
    index = torch.stack([torch.randperm(experts)[:k] for _ in range(tokens)])
    weights = torch.rand(tokens, k) + 0.1
    weights = (weights / weights.sum(dim=-1, keepdim=True)).to(torch.bfloat16)
    y = block(x, index, weights)
    return {"kernel": "expert-mlp-decode",
            "problem": f"T={tokens},H={hidden},I={columns},E={experts},k={k}",
            # nkitune's layouts: gate_up [E, H, 2I] (gate columns first), down [E, I, H].
            "inputs": [tensor(x), tensor(block.gate_up_proj.transpose(1, 2)), tensor(block.down_proj.transpose(1, 2)),
                       tensor(index), tensor(weights.float())],
            "outputs": [tensor(y)]}


def attention_decode_case():
    positions, d = 150, CONFIG.head_dim
    q_heads, kv_heads = CONFIG.num_attention_heads, CONFIG.num_key_value_heads
    attention = qwen.Qwen3MoeAttention(CONFIG, layer_idx=0).to(torch.bfloat16).eval()
    q = bf16(1, q_heads, 1, d)
    k, v = bf16(1, kv_heads, positions, d), bf16(1, kv_heads, positions, d)
    out, _ = qwen.eager_attention_forward(attention, q, k, v, None, scaling=attention.scaling)
    return {"kernel": "attention-decode",
            "problem": f"S={positions},heads={q_heads},kv_heads={kv_heads},d={d}",
            "inputs": [tensor(q.reshape(q_heads, d)), tensor(k.reshape(kv_heads * positions, d)),
                       tensor(v.reshape(kv_heads * positions, d))],
            "outputs": [tensor(out.reshape(q_heads, d))]}


def decoder_layer_case():
    """One whole Qwen3MoeDecoderLayer over a short prompt (causal, positions 0..T-1)."""
    tokens = 12
    config = Qwen3MoeConfig(**{**CONFIG.to_dict(), "num_experts_per_tok": 2})
    config._attn_implementation = "eager"
    layer = qwen.Qwen3MoeDecoderLayer(config, layer_idx=0).to(torch.bfloat16).eval()
    with torch.no_grad():
        for name, parameter in layer.named_parameters():
            if parameter.dim() == 1:  # norm weights, around 1
                parameter.copy_((torch.rand(parameter.shape) * 0.5 + 0.75).to(torch.bfloat16))
            else:
                parameter.copy_(bf16(*parameter.shape, scale=0.25))
    x = bf16(1, tokens, config.hidden_size)
    rotary = qwen.Qwen3MoeRotaryEmbedding(config)
    cos, sin = rotary(x, torch.arange(tokens).unsqueeze(0))
    mask = torch.full((tokens, tokens), torch.finfo(torch.bfloat16).min).triu(1).to(torch.bfloat16)[None, None]
    with torch.no_grad():
        out = layer(x, attention_mask=mask, position_embeddings=(cos, sin))
    attention, experts = layer.self_attn, layer.mlp.experts
    qkv = torch.cat([attention.q_proj.weight, attention.k_proj.weight, attention.v_proj.weight], dim=0).t()
    h, d = config.hidden_size, config.head_dim
    return {"kernel": "decoder-layer",
            "problem": f"T={tokens},H={h},q_heads={config.num_attention_heads},kv_heads={config.num_key_value_heads},"
                       f"d={d},E={config.num_experts},k={config.num_experts_per_tok},I={config.moe_intermediate_size}",
            "inputs": [tensor(x[0]), tensor(layer.input_layernorm.weight.reshape(1, h)), tensor(qkv),
                       tensor(attention.q_norm.weight.reshape(1, d)), tensor(attention.k_norm.weight.reshape(1, d)),
                       tensor(cos[0]), tensor(sin[0]), tensor(attention.o_proj.weight.t()),
                       tensor(layer.post_attention_layernorm.weight.reshape(1, h)), tensor(layer.mlp.gate.weight.t()),
                       tensor(experts.gate_up_proj.transpose(1, 2)), tensor(experts.down_proj.transpose(1, 2))],
            "outputs": [tensor(out[0])]}


def main():
    torch.manual_seed(0)
    cases = rmsnorm_cases()
    cases["qk-norm-rope"] = qk_norm_rope_case()
    cases["router"] = router_case()
    cases["attention-decode"] = attention_decode_case()
    cases["expert-mlp-decode"] = experts_decode_case()
    cases["decoder-layer"] = decoder_layer_case()
    document = {"generator": "scripts/make_golden.py", "transformers": transformers.__version__,
                "torch": torch.__version__, "seed": 0, "cases": cases}
    OUT.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
