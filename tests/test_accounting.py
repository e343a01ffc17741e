"""Parameter, KV-cache and weight-memory accounting, checked against the papers and transformers."""

import pytest
import torch
from helpers import HF_CASES, tiny_hf_model

from r1mini import (
    ModelConfig,
    Transformer,
    count_parameters,
    kv_cache_bytes_per_token,
    weight_bytes,
)
from r1mini.io import config_from_hf

V3 = ModelConfig.preset("deepseek-v3-671b")


def test_671b_total_matches_the_paper():
    counts = count_parameters(V3)
    assert abs(counts["total"] - 671e9) <= 0.5e9  # V3 paper Table 1: 671B


def test_671b_activated_per_token():
    """Everything but the routed experts, plus 8 of the 256 routed experts of each MoE layer.

    This comes to 37.55B (0.93B embedding + 0.93B head included). The V3 paper reports "37B";
    DeepSeek's weights README gives 36.6B, counting the head but not the embedding table: 36.63B."""
    counts = count_parameters(V3)
    parts = counts["breakdown"]
    expert = 3 * V3.dim * V3.moe_inter_dim
    assert parts["routed_experts"] == V3.n_moe_layers * V3.n_routed_experts * expert
    always_on = counts["total"] - parts["routed_experts"]
    assert counts["activated"] == always_on + V3.n_moe_layers * V3.n_activated_experts * expert
    assert abs(counts["activated"] - 37e9) <= 0.6e9
    assert parts["embedding"] == parts["head"] == 129280 * 7168  # the 0.9B each
    active = counts["activated_breakdown"]
    assert active["routed_experts"] == V3.n_moe_layers * V3.n_activated_experts * expert
    assert {k: v for k, v in active.items() if k != "routed_experts"} == {
        k: v for k, v in parts.items() if k != "routed_experts"
    }
    assert sum(active.values()) == counts["activated"]
    without = counts["activated_without_embedding"]
    assert without == counts["activated"] - 129280 * 7168
    assert round(without / 1e9, 2) == 36.63  # the README's 36.6B
    assert sum(counts["mtp_activated_breakdown"].values()) == counts["mtp_activated"]


def test_671b_mtp_module():
    counts = count_parameters(V3)
    assert abs(counts["mtp"] - 11.5e9) <= 0.15e9  # README_WEIGHTS: 11.5B unique MTP parameters
    # the released checkpoint stores the MTP module with its own copies of embedding and head
    with_copies = counts["mtp"] + counts["breakdown"]["embedding"] + counts["breakdown"]["head"]
    assert abs(counts["total"] + with_copies - 685e9) <= 1e9  # the 685B Hugging Face checkpoint


def test_the_whole_671b_model_builds_on_meta():
    with torch.device("meta"):
        model = Transformer(V3)
    assert sum(p.numel() for p in model.parameters()) == (
        count_parameters(V3)["total"] + count_parameters(V3)["mtp"]
    )
    assert model.layers[60].ffn.experts.w1.shape == (256, 2048, 7168)
    assert all(p.device.type == "meta" for p in model.parameters())


@pytest.mark.parametrize("case", sorted(HF_CASES))
def test_counts_equal_transformers(case):
    """An independent count: transformers' model of the same config has the same parameters."""
    hf_model = tiny_hf_model(**HF_CASES[case])
    config = config_from_hf(hf_model.config)
    assert count_parameters(config)["total"] == sum(p.numel() for p in hf_model.parameters())


def test_kv_cache_bytes_per_token_671b():
    cache = kv_cache_bytes_per_token(V3)  # bf16
    assert cache["absorbed_mla"] == (512 + 64) * 61 * 2 == 70_272
    assert cache["mha"] == 2 * 128 * 128 * 61 * 2
    assert cache["naive_mla"] == 128 * (192 + 128) * 61 * 2
    # MHA with V3's 192-wide keys caches what naive MLA caches; the usual baseline has 128-wide keys
    assert cache["mha_v3_heads"] == cache["naive_mla"] > cache["mha"]
    assert cache["mha"] / cache["absorbed_mla"] > 56


def test_kv_cache_matches_the_tensors_a_model_caches():
    config = ModelConfig.preset("nano")
    for impl, key in (("absorb", "absorbed_mla"), ("naive", "naive_mla")):
        model = Transformer(config.replace(attn_impl=impl)).eval()
        with torch.no_grad():
            model(torch.randint(0, config.vocab_size, (1, 10)))
        cached = sum(t[0, 0].numel() for layer in model.layers for t in layer.attn.cache.values())
        assert cached * 4 == kv_cache_bytes_per_token(config, bytes_per_element=4)[key]


def test_weight_memory():
    memory = weight_bytes(V3)
    assert memory["bf16"] == 2 * count_parameters(V3)["total"]
    # FP8 projections halve most of the bytes; embedding, head, norms and gates stay bf16
    assert 0.5 < memory["fp8"] / memory["bf16"] < 0.51
