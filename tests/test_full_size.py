"""Real full-size DeepSeek-V3 pieces run on the CPU on a few tokens."""

import pytest
import torch

from r1mini import ModelConfig
from r1mini.model import MLA, Block, Gate, RotaryEmbedding, causal_mask

V3 = ModelConfig.preset("deepseek-v3-671b")


@pytest.mark.integration
def test_full_size_mla_layer_both_paths_agree_and_decode():
    torch.manual_seed(0)
    naive = MLA(V3.replace(attn_impl="naive"))
    for p in naive.parameters():
        torch.nn.init.normal_(p, std=0.02) if p.dim() > 1 else None
    absorbed = MLA(V3)
    absorbed.load_state_dict(naive.state_dict())
    rope = RotaryEmbedding(V3)
    x = torch.randn(1, 6, V3.dim)  # [B, T, 7168]
    with torch.no_grad():
        full = {}
        for name, attn in (("naive", naive), ("absorb", absorbed)):
            prefill = attn(x[:, :5], 0, rope(torch.arange(5)), causal_mask(0, 5, x.device, None))
            step = attn(x[:, 5:], 5, rope(torch.arange(5, 6)), None)
            full[name] = torch.cat([prefill, step], dim=1)
        assert full["naive"].shape == (1, 6, V3.dim)
        assert (full["naive"] - full["absorb"]).abs().max() <= 1e-4 * full["naive"].abs().max()
    cache = {name: tuple(t.shape[2:]) for name, t in absorbed.cache.items()}
    assert cache == {"latent": (512,), "k_pe": (64,)}  # 576 numbers per token per layer


def test_full_size_gate_routes_within_four_groups():
    torch.manual_seed(0)
    gate = Gate(V3)
    torch.nn.init.normal_(gate.weight, std=0.02)
    gate.bias.normal_(0, 0.01)
    weights, ids, scores = gate(torch.randn(4, V3.dim))  # [4, 8], [4, 8], [4, 256]
    assert ids.shape == (4, 8) and scores.shape == (4, 256)
    groups = ids // V3.experts_per_group  # [4, 8]
    assert all(len(set(row.tolist())) <= V3.n_limited_groups for row in groups)
    assert torch.allclose(weights.sum(-1), torch.full((4,), V3.route_scale))


@pytest.mark.slow
def test_full_size_first_block_runs():
    """Block 0 of DeepSeek-V3 (MLA + the 18432-wide dense FFN, 0.58B parameters) on a few tokens."""
    torch.manual_seed(0)
    block = Block(V3, layer_id=0)
    for p in block.parameters():
        if p.dim() > 1:
            torch.nn.init.normal_(p, std=0.006)
    rope = RotaryEmbedding(V3)
    x = torch.randn(1, 4, V3.dim)
    with torch.no_grad():
        out = block(x, 0, rope(torch.arange(4)), causal_mask(0, 4, x.device, None))
    assert out.shape == (1, 4, V3.dim) and torch.isfinite(out).all()
    mla = 7168 * 1536 + 1536 + 1536 * 128 * 192 + 7168 * 576 + 512 + 512 * 128 * 256 + 128 * 128 * 7168
    assert sum(p.numel() for p in block.parameters()) == mla + 3 * 7168 * 18432 + 2 * 7168
