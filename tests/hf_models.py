"""Tiny random `transformers` DeepSeek-V3 models: the oracle the parity tests compare against."""

from __future__ import annotations

import torch
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

YARN = dict(
    rope_type="yarn",
    rope_theta=10000.0,
    factor=4.0,
    original_max_position_embeddings=16,
    beta_fast=32.0,
    beta_slow=1.0,
    mscale=1.0,
    mscale_all_dim=1.0,
)
# (name, config overrides): q_lora_rank 0 and > 0, YaRN beyond the original length, group-limited
# routing with several group/top-k shapes.
CASES = {
    "plain-rope-no-qlora": dict(q_lora_rank=None),
    "yarn-qlora": dict(q_lora_rank=12, rope_parameters=YARN),
    "one-group-dense2": dict(q_lora_rank=20, n_group=1, topk_group=1, first_k_dense_replace=2),
    "groups8-top4": dict(
        q_lora_rank=None,
        n_routed_experts=16,
        n_group=8,
        topk_group=3,
        num_experts_per_tok=4,
        rope_parameters=YARN,
    ),
}


def tiny_hf_model(dtype: torch.dtype = torch.float32, seed: int = 0, **overrides) -> DeepseekV3ForCausalLM:
    """A random 3-layer DeepSeek-V3 with non-trivial norms and a random correction bias."""
    torch.manual_seed(seed)
    fields = dict(
        vocab_size=50,
        hidden_size=32,
        intermediate_size=48,
        moe_intermediate_size=16,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=4,
        n_shared_experts=1,
        n_routed_experts=8,
        routed_scaling_factor=2.5,
        kv_lora_rank=16,
        q_lora_rank=12,
        qk_rope_head_dim=8,
        v_head_dim=12,
        qk_nope_head_dim=10,
        n_group=4,
        topk_group=2,
        num_experts_per_tok=3,
        first_k_dense_replace=1,
        max_position_embeddings=64,
        rope_parameters=dict(rope_type="default", rope_theta=10000.0),
        num_nextn_predict_layers=0,
        initializer_range=0.1,
    )
    fields.update(overrides)
    config = DeepseekV3Config(**fields)
    config._experts_implementation = "eager"  # the plain per-expert loop (works in float64 too)
    model = DeepseekV3ForCausalLM(config).to(dtype).eval()
    with torch.no_grad():
        for module in model.modules():
            if hasattr(module, "e_score_correction_bias"):
                module.e_score_correction_bias.normal_(0, 0.1)
            if type(module).__name__.endswith("RMSNorm"):
                module.weight.normal_(1.0, 0.2)
    return model
