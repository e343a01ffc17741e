"""Fused token log-probabilities in Triton: log-softmax and gather in one pass over the vocabulary.

Forward, one program per token row, walking the vocabulary in blocks of BLOCK_V with an online
log-sum-exp (running max m and running Σ exp(x − m), rescaled when m grows):
    lse = m + log Σ_v exp(x_v − m),    logprob = x[id] − lse        (lse saved, [N] fp32)
Backward, the gradient of log-softmax-then-gather, written block by block without any [N, V] fp32
intermediate beyond the gradient itself:
    dlogits[t, v] = g_t · (1[v = id_t] − exp(x_v − lse_t))
The full [N, V] log-softmax is never materialised (the reference builds it in fp32).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from r1mini.kernels.checks import FLOATS, check_device, check_dtype, check_shape, interpreting


@triton.jit
def _logprobs_fwd(x_ptr, ids_ptr, out_ptr, lse_ptr, V, BLOCK_V: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    base = x_ptr + row * V
    m = tl.full([BLOCK_V], float("-inf"), dtype=tl.float32)  # per-lane running max
    total = tl.zeros([BLOCK_V], dtype=tl.float32)  # per-lane running Σ exp(x − m)
    for v0 in range(0, V, BLOCK_V):
        v = v0 + tl.arange(0, BLOCK_V)  # [BV]
        x = tl.load(base + v, mask=v < V, other=float("-inf")).to(tl.float32)
        m_new = tl.maximum(m, x)
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # lanes that saw only padding
        total = total * tl.exp(m - m_safe) + tl.exp(x - m_safe)
        m = m_new
    top = tl.max(m, axis=0)  # merge the lanes
    lse = top + tl.log(tl.sum(total * tl.exp(m - top), axis=0))
    picked = tl.load(base + tl.load(ids_ptr + row)).to(tl.float32)
    tl.store(out_ptr + row, picked - lse)
    tl.store(lse_ptr + row, lse)


@triton.jit
def _logprobs_bwd(x_ptr, ids_ptr, lse_ptr, g_ptr, dx_ptr, V, BLOCK_V: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    lse = tl.load(lse_ptr + row)
    g = tl.load(g_ptr + row)
    target = tl.load(ids_ptr + row)
    for v0 in range(0, V, BLOCK_V):
        v = v0 + tl.arange(0, BLOCK_V)  # [BV]
        inside = v < V
        x = tl.load(x_ptr + row * V + v, mask=inside, other=0.0).to(tl.float32)
        dx = g * ((v == target).to(tl.float32) - tl.exp(x - lse))  # [BV]
        tl.store(dx_ptr + row * V + v, dx.to(dx_ptr.dtype.element_ty), mask=inside)


def launch_config(vocab: int, interpret: bool) -> dict[str, int]:
    """BLOCK_V of both kernels: the vocabulary's power of two, capped (larger when interpreting,
    where fewer, bigger steps run faster)."""
    return {"BLOCK_V": min(triton.next_power_of_2(vocab), 8192 if interpret else 4096)}


class _TokenLogprobs(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        n, vocab = logits.shape
        out = torch.empty(n, dtype=torch.float32, device=logits.device)  # [N]
        lse = torch.empty(n, dtype=torch.float32, device=logits.device)  # [N]
        _logprobs_fwd[(n,)](logits, ids, out, lse, vocab, **launch_config(vocab, interpreting()))
        ctx.save_for_backward(logits, ids, lse)
        return out

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        logits, ids, lse = ctx.saved_tensors
        n, vocab = logits.shape
        dlogits = torch.empty_like(logits)  # [N, V]
        g = g.float().contiguous()  # [N]
        _logprobs_bwd[(n,)](logits, ids, lse, g, dlogits, vocab, **launch_config(vocab, interpreting()))
        return dlogits, None


def token_logprobs_triton(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """logits: [N, V] (fp32/fp16/bf16; copied if not contiguous), ids: [N] int in [0, V).
    Returns [N] fp32 as `token_logprobs_reference`; differentiable (Triton backward)."""
    op = "token_logprobs_triton"
    check_device(op, logits=logits, ids=ids)
    check_dtype(op, "logits", logits, FLOATS)
    check_dtype(op, "ids", ids, (torch.int64, torch.int32))
    check_shape(op, "logits", logits, (None, None))
    n, vocab = logits.shape
    check_shape(op, "ids", ids, (n,))
    if vocab == 0:
        raise ValueError(f"{op}: logits.shape={tuple(logits.shape)} has an empty vocabulary")
    if n and (int(ids.min()) < 0 or int(ids.max()) >= vocab):
        raise ValueError(f"{op}: ids must lie in [0, V={vocab}); got [{int(ids.min())}, {int(ids.max())}]")
    if n == 0:
        return logits.new_zeros(0, dtype=torch.float32) + logits.sum()  # keeps the autograd graph
    return _TokenLogprobs.apply(logits.contiguous(), ids.contiguous())
