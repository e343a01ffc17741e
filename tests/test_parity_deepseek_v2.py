"""The softmax gate of the V2 presets against transformers' `DeepseekV2ForCausalLM`."""

import pytest
import torch
from transformers import DeepseekV2Config, DeepseekV2ForCausalLM

from r1mini import ModelConfig
from r1mini.io import from_transformers

YARN = dict(
    rope_type="yarn",
    rope_theta=10000.0,
    factor=4.0,
    original_max_position_embeddings=16,
    beta_fast=32.0,
    beta_slow=1.0,
    mscale=0.707,
    mscale_all_dim=0.707,
)


def tiny_v2(topk_method: str) -> DeepseekV2ForCausalLM:
    torch.manual_seed(0)
    config = DeepseekV2Config(
        vocab_size=50,
        hidden_size=32,
        intermediate_size=48,
        moe_intermediate_size=16,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=4,
        n_shared_experts=2,
        n_routed_experts=8,
        routed_scaling_factor=1.5,
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
        topk_method=topk_method,
        initializer_range=0.1,
        rope_parameters=YARN,
    )
    config._experts_implementation = "eager"
    return DeepseekV2ForCausalLM(config).eval()


@pytest.mark.parametrize("topk_method", ["greedy", "group_limited_greedy"])
@pytest.mark.parametrize("attn_impl", ["naive", "absorb"])
def test_v2_logits_match(topk_method, attn_impl):
    hf_model = tiny_v2(topk_method)
    model = from_transformers(hf_model, attn_impl=attn_impl).eval()
    assert model.config.score_func == "softmax" and not model.config.norm_topk_prob
    assert model.config.n_expert_groups == (1 if topk_method == "greedy" else 4)
    x = torch.randint(0, 50, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf_model(x).logits
        prefill = model(x[:, :30])
        steps = [model(x[:, t : t + 1], start_pos=t) for t in range(30, 40)]
    assert expected.abs().max() > 0.5
    assert (torch.cat([prefill, *steps], dim=1) - expected).abs().max() <= 1e-5


def test_v2_presets_use_softmax_routing():
    for name in ("deepseek-v2-236b", "deepseek-v2-lite-16b"):
        config = ModelConfig.preset(name)
        assert config.score_func == "softmax" and not config.norm_topk_prob
