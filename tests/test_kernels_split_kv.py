"""Split-KV decoding in PyTorch: the ranges and the log-sum-exp merge give the whole softmax back,
and they are what the Triton kernel computes when it splits the cache."""

import pytest
import torch

from r1mini.kernels import mla_attention_reference
from r1mini.kernels.mla_attention_launch import launch_config
from r1mini.kernels.split_kv import merge_splits, merge_weights, split_attention, split_ranges

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _inputs(b: int, t: int, h: int, c: int, r: int, s: int):
    torch.manual_seed(0)
    return (
        torch.randn(b, t, h, c, device=DEVICE),
        torch.randn(b, t, h, r, device=DEVICE),
        torch.randn(b, s, c, device=DEVICE),
        torch.randn(b, s, r, device=DEVICE),
    )


def test_split_ranges_cover_the_cache() -> None:
    assert split_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert split_ranges(3, 8) == [(0, 3)]
    with pytest.raises(ValueError, match="split_len=0"):
        split_ranges(10, 0)


@pytest.mark.parametrize("split_len", [1, 7, 50, 64])
def test_merge_of_splits_is_the_whole_softmax(split_len: int) -> None:
    q_lat, q_pe, kv, pe = _inputs(2, 3, 4, 24, 8, 50)
    mask = torch.rand(2, 3, 50, device=DEVICE) < 0.6
    mask[:, :, 0] = True  # every row sees a key; many ranges are partly masked
    mask[:, :, 40:] = False  # and the last range(s) wholly masked for split_len <= 10
    o_parts, lse_parts = split_attention(q_lat, q_pe, kv, pe, 0.3, split_len, mask)
    assert o_parts.shape == (2, 3, 4, -(-50 // split_len), 24)
    out, lse = merge_splits(o_parts, lse_parts)
    out_ref, probs = mla_attention_reference(q_lat, q_pe, kv, pe, 0.3, mask)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
    # each range's merge weight is the attention mass that falls inside it
    mass = torch.stack([probs[..., a:b].sum(-1) for a, b in split_ranges(50, split_len)], dim=-1)
    torch.testing.assert_close(merge_weights(lse_parts), mass.transpose(1, 2), atol=1e-6, rtol=1e-5)
    assert lse.shape == (2, 3, 4)


def test_a_row_that_sees_nothing_merges_to_zero() -> None:
    lse_parts = torch.full((1, 3), float("-inf"))
    out, lse = merge_splits(torch.zeros(1, 3, 5), lse_parts)
    assert torch.equal(merge_weights(lse_parts), torch.zeros(1, 3))
    assert torch.equal(out, torch.zeros(1, 5)) and lse.item() == float("-inf")


@pytest.mark.triton
@pytest.mark.parametrize("kv_splits", [2, 3])
def test_the_kernel_splits_and_merges_the_same_way(kv_splits: int) -> None:
    """The Triton kernel's split length comes from its launch config (whole cache blocks)."""
    from r1mini.kernels.mla_attention_triton import mla_attention_triton

    q_lat, q_pe, kv, pe = _inputs(1, 1, 3, 32, 8, 100)
    config = launch_config(
        1,
        1,
        3,
        100,
        32,
        8,
        dtypes=(torch.float32,),
        has_mask=False,
        interpret=not kv.is_cuda,
        sm_count=1,
        kv_splits=kv_splits,
    )
    out = mla_attention_triton(q_lat, q_pe, kv, pe, 0.2, None, kv_splits=kv_splits)
    merged, _ = merge_splits(*split_attention(q_lat, q_pe, kv, pe, 0.2, config["split_len"]))
    torch.testing.assert_close(out, merged, atol=1e-5, rtol=1e-5)
