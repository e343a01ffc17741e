"""MLA absorbed attention: flash prefill and split-KV decode, and the flash backward, against the
reference (gradients: autograd through the reference; bf16 ones against the fp32 gradient)."""

import pytest
import torch

pytest.importorskip("triton", reason="Triton kernels: Triton ships for Linux only")

from r1mini import kernels
from r1mini.kernels.mla_attention_triton import mla_attention_triton

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOL = {torch.float32: 1e-5, torch.bfloat16: 2e-2}


def _inputs(b: int, t: int, h: int, c: int, r: int, s: int, dtype: torch.dtype):
    """Queries and a cache that is a slice of a longer buffer (as the model's cache is)."""
    q_lat = torch.randn(b, t, h, c, device=DEVICE).to(dtype).requires_grad_()
    q_pe = torch.randn(b, t, h, r, device=DEVICE).to(dtype).requires_grad_()
    kv = torch.randn(b, s + 7, c, device=DEVICE).to(dtype)[:, :s]  # [B, S, C], strided
    pe = torch.randn(b, s + 7, r, device=DEVICE).to(dtype)[:, :s]  # [B, S, R], strided
    return q_lat, q_pe, kv, pe


def _reference(q_lat, q_pe, kv, pe, scale, mask):
    """The reference in fp32 (bf16 einsums would round the scores before the softmax)."""
    return kernels.mla_attention_reference(q_lat.float(), q_pe.float(), kv.float(), pe.float(), scale, mask)[
        0
    ]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("b, t, h, c, r, start", [(2, 7, 3, 32, 8, 6), (1, 19, 4, 16, 4, 0)])
def test_prefill_causal_matches_reference(b, t, h, c, r, start, dtype) -> None:
    torch.manual_seed(0)
    s = start + t
    q_lat, q_pe, kv, pe = _inputs(b, t, h, c, r, s, dtype)
    kv.requires_grad_()
    mask = (torch.arange(s, device=DEVICE) <= start + torch.arange(t, device=DEVICE)[:, None])[None]
    with kernels.use("triton"):
        out = kernels.mla_attention(q_lat, q_pe, kv, pe, 0.2, mask)
    out_ref = _reference(q_lat, q_pe, kv, pe, 0.2, mask)
    tol = TOL[dtype]
    torch.testing.assert_close(out.float(), out_ref, atol=tol, rtol=tol)
    pe.requires_grad_()
    _check_gradients(q_lat, q_pe, kv, pe, 0.2, mask, dtype)


def _check_gradients(q_lat, q_pe, kv, pe, scale, mask, dtype, kv_splits=None) -> None:
    """The Triton backward's gradients for all four inputs against autograd through the reference:
    to 1e-4 in fp32; in bf16, about as close to the fp32 gradient as the reference's own bf16
    backward, give or take two bf16 steps (the interpreter truncates bf16 stores, TRITON.md)."""
    leaves = (q_lat, q_pe, kv, pe)
    out = mla_attention_triton(q_lat, q_pe, kv, pe, scale, mask, kv_splits=kv_splits)
    dout = torch.randn_like(out)
    grads = torch.autograd.grad(out, leaves, dout)
    grads_ref = torch.autograd.grad(kernels.mla_attention_reference(*leaves, scale, mask)[0], leaves, dout)
    if dtype == torch.float32:
        for g, g_ref in zip(grads, grads_ref, strict=True):
            torch.testing.assert_close(g, g_ref, atol=1e-4, rtol=1e-4)
        return
    exact = [t.detach().float().requires_grad_() for t in leaves]
    out_exact = kernels.mla_attention_reference(*exact, scale, mask)[0]
    grads_exact = torch.autograd.grad(out_exact, exact, dout.float())
    names = ("q_lat", "q_pe", "kv", "pe")
    for name, g, g_ref, g_exact in zip(names, grads, grads_ref, grads_exact, strict=True):
        top = g_exact.abs().max()
        err, err_ref = ((t.float() - g_exact).abs().max() / top for t in (g, g_ref))
        assert err <= 2 * err_ref + 8e-3, f"d{name}: bf16 error {err:.2e}, the reference's {err_ref:.2e}"


@pytest.mark.parametrize("splits", [None, 1, 3, 8])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_decode_split_kv_matches_reference(splits: int | None, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    b, h, c, r, s = 3, 5, 48, 8, 150
    q_lat, q_pe, kv, pe = _inputs(b, 1, h, c, r, s, dtype)
    mask = torch.rand(b, 1, s, device=DEVICE) < 0.7  # padding-like holes, per sequence
    mask[:, :, 0] = True
    out = mla_attention_triton(q_lat, q_pe, kv, pe, 0.1, mask, kv_splits=splits)
    tol = TOL[dtype]
    torch.testing.assert_close(out.float(), _reference(q_lat, q_pe, kv, pe, 0.1, mask), atol=tol, rtol=tol)


def test_decode_671b_dimensions() -> None:
    """kv_lora_rank 512 + rope 64, 128 heads, a short cache, no mask, split over the cache."""
    torch.manual_seed(0)
    q_lat, q_pe, kv, pe = _inputs(2, 1, 128, 512, 64, 45, torch.bfloat16)
    scale = 192**-0.5
    out = mla_attention_triton(q_lat, q_pe, kv, pe, scale, None, kv_splits=2)
    out_ref = _reference(q_lat, q_pe, kv, pe, scale, None)
    torch.testing.assert_close(out.float(), out_ref, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_decode_backward_through_split_kv(dtype: torch.dtype) -> None:
    """Gradients of a decoding step whose forward split the cache; per-sequence padding holes."""
    torch.manual_seed(1)
    b, h, c, r, s = 2, 5, 48, 8, 70
    q_lat, q_pe, kv, pe = _inputs(b, 1, h, c, r, s, dtype)
    mask = torch.rand(b, 1, s, device=DEVICE) < 0.7
    mask[:, :, 0] = True
    _check_gradients(q_lat, q_pe, kv.requires_grad_(), pe.requires_grad_(), 0.1, mask, dtype, kv_splits=3)


def test_backward_671b_dimensions() -> None:
    """kv_lora_rank 512 + rope 64, 128 heads: a short causal prefill on top of a cache, in bf16."""
    torch.manual_seed(0)
    t, start = 3, 2
    s = start + t
    q_lat, q_pe, kv, pe = _inputs(1, t, 128, 512, 64, s, torch.bfloat16)
    mask = (torch.arange(s, device=DEVICE) <= start + torch.arange(t, device=DEVICE)[:, None])[None]
    _check_gradients(q_lat, q_pe, kv.requires_grad_(), pe.requires_grad_(), 192**-0.5, mask, torch.bfloat16)
