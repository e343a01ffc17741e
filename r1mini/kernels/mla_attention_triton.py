"""MLA attention in absorbed form over the latent cache, flash-style, in Triton (V3 paper §2.1.1).

With the key up-projection folded into the query, every head attends to the same cached rows: the
latent `c_s` [C = kv_lora_rank] is both key and value, and `k_pe_s` [R = rope dim] is one roped key
shared by all heads. So the kernel treats the (query position, head) pairs of one sequence as the
rows of one matrix, Q_lat [T·H, C] and Q_pe [T·H, R], and streams the cache through them once:

    scores = (Q_lat · Cᵀ + Q_pe · K_peᵀ) · scale      [rows, BLOCK_S] per cache block
    online softmax (running max m, sum l), acc += P · C   [rows, C]

Every block of the cache is read once per BLOCK_M rows, i.e. shared by BLOCK_M heads: that reuse is
what makes MLA decoding bandwidth-bound on the cache rather than on H copies of it (FlashMLA runs 64
heads per block for the same reason). The boolean mask [B or 1, T, S] (True = may attend) is read
per (row, key), so causal prefill, decode over a cache and padding are all one code path.

Decode (T = 1) has few rows, too few programs to fill a GPU. Split-KV ("flash decoding"): the cache
is cut into `kv_splits` ranges, one program per range writes its normalised partial output `o_j` and
log-sum-exp `lse_j`, and a second small kernel merges them exactly:
    lse = log Σ_j exp(lse_j),    out = Σ_j exp(lse_j − lse) · o_j.
Prefill uses one split (the same kernel, writing `out` and `lse` directly). A query row with no
allowed key gets a zero output (the reference's softmax gives NaN there).

Backward: `mla_attention_backward_triton`, flash-style (two kernels recomputing the probabilities
from the saved log-sum-exp, no [rows, S] matrix stored).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from r1mini.kernels.checks import (
    FLOATS,
    check_device,
    check_dtype,
    check_shape,
    interpreting,
)
from r1mini.kernels.mla_attention_backward_triton import mla_attention_backward
from r1mini.kernels.mla_attention_launch import candidates, launch_config
from r1mini.kernels.mla_tiles_triton import _load_cache, _load_rows
from r1mini.kernels.tuning import TUNER


@triton.jit
def _mla_fwd(
    q_lat_ptr,
    q_pe_ptr,
    kv_ptr,
    pe_ptr,
    mask_ptr,
    out_ptr,
    lse_ptr,
    n_rows,
    n_heads,
    S,
    C,
    R,
    split_len,
    n_splits,
    scale,
    kv_sb,
    kv_ss,
    pe_sb,
    pe_ss,
    mask_sb,
    mask_st,
    HAS_MASK: tl.constexpr,
    DOT_FP32: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_S: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_R: tl.constexpr,
):
    pid_m, b, split = tl.program_id(0), tl.program_id(1).to(tl.int64), tl.program_id(2)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)  # [BM] row = t * H + h
    row_ok = rows < n_rows
    t = rows // n_heads  # [BM] query position
    c = tl.arange(0, BLOCK_C)  # [BC]
    r = tl.arange(0, BLOCK_R)  # [BR]
    q_row = b * n_rows + rows  # [BM]
    q_lat, q_pe = _load_rows(q_lat_ptr, q_pe_ptr, q_row, row_ok, c, r, C, R, DOT_FP32)  # [BM, BC], [BM, BR]
    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)  # running max
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)  # running sum of exp
    acc = tl.zeros([BLOCK_M, BLOCK_C], dtype=tl.float32)  # running Σ p · c
    s_begin = split * split_len
    s_end = tl.minimum(s_begin + split_len, S)
    for s0 in range(s_begin, s_end, BLOCK_S):
        s = s0 + tl.arange(0, BLOCK_S)  # [BS]
        s_ok = s < s_end
        kv, pe = _load_cache(
            kv_ptr, pe_ptr, b, s, s_ok, c, r, C, R, kv_sb, kv_ss, pe_sb, pe_ss, DOT_FP32
        )  # [BS, BC], [BS, BR]
        scores = tl.dot(q_lat, tl.trans(kv)) + tl.dot(q_pe, tl.trans(pe))  # [BM, BS]
        allowed = row_ok[:, None] & s_ok[None, :]
        if HAS_MASK:
            m_off = b * mask_sb + t[:, None] * mask_st + s[None, :]
            allowed &= tl.load(mask_ptr + m_off, mask=allowed, other=0) != 0
        scores = tl.where(allowed, scores * scale, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(scores, axis=1))  # [BM]
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # rows with nothing allowed yet
        p = tl.exp(scores - m_safe[:, None])  # [BM, BS]
        alpha = tl.exp(m_i - m_safe)  # [BM] rescales what was summed so far
        l_i = l_i * alpha + tl.sum(p, axis=1)
        acc = acc * alpha[:, None] + tl.dot(p.to(kv.dtype), kv)
        m_i = m_new
    seen = l_i > 0  # False for a row with no allowed key in this range: o = 0, lse = -inf
    o = acc / tl.where(seen, l_i, 1.0)[:, None]  # [BM, BC]
    lse = tl.where(seen, m_i + tl.log(tl.where(seen, l_i, 1.0)), float("-inf"))  # [BM]
    part = (b * n_rows + rows) * n_splits + split  # [BM]
    tl.store(
        out_ptr + part[:, None] * C + c[None, :],
        o.to(out_ptr.dtype.element_ty),
        mask=row_ok[:, None] & (c[None, :] < C),
    )
    tl.store(lse_ptr + part, lse, mask=row_ok)


@triton.jit
def _merge_splits(
    o_part_ptr,
    lse_part_ptr,
    out_ptr,
    lse_ptr,
    n_splits,
    C,
    BLOCK_J: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)  # one (b, t, h) row
    j = tl.arange(0, BLOCK_J)  # [BJ] split
    c = tl.arange(0, BLOCK_C)  # [BC]
    lse_j = tl.load(lse_part_ptr + row * n_splits + j, mask=j < n_splits, other=float("-inf"))
    top = tl.max(lse_j, axis=0)
    top = tl.where(top == float("-inf"), 0.0, top)  # a row with no allowed key at all
    w = tl.exp(lse_j - top)  # [BJ] each split's share, up to the common factor
    o_j = tl.load(
        o_part_ptr + (row * n_splits + j[:, None]) * C + c[None, :],
        mask=(j[:, None] < n_splits) & (c[None, :] < C),
        other=0.0,
    )
    total = tl.sum(w, axis=0)
    safe = tl.where(total > 0, total, 1.0)
    o = tl.sum(o_j * w[:, None], axis=0) / safe  # [BC]
    tl.store(out_ptr + row * C + c, o.to(out_ptr.dtype.element_ty), mask=c < C)
    tl.store(lse_ptr + row, tl.where(total > 0, top + tl.log(safe), float("-inf")))


def _launch(
    q_lat: torch.Tensor,
    q_pe: torch.Tensor,
    kv: torch.Tensor,
    pe: torch.Tensor,
    scale: float,
    mask: torch.Tensor | None,
    config: dict,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The launches with one config; returns out [B, T, H, C] (kv's dtype) and lse [B, T·H] fp32."""
    (batch, n_t, n_heads, C), R, S = q_lat.shape, q_pe.shape[-1], kv.shape[1]
    n_rows = n_t * n_heads
    splits, split_len = config["splits"], config["split_len"]
    one = splits == 1
    out = torch.empty(batch, n_t, n_heads, C, dtype=kv.dtype, device=kv.device)  # [B, T, H, C]
    lse = torch.empty(batch, n_rows, dtype=torch.float32, device=kv.device)  # [B, T·H]
    o_part = out if one else torch.empty(batch, n_rows, splits, C, dtype=torch.float32, device=kv.device)
    lse_part = lse if one else torch.empty(batch, n_rows, splits, dtype=torch.float32, device=kv.device)
    mask_u8 = None if mask is None else mask.contiguous().view(torch.uint8)  # [B or 1, T, S]
    mask_sb = 0 if mask is None or mask.shape[0] == 1 else n_t * S
    _mla_fwd[(config["row_blocks"], batch, splits)](
        q_lat,
        q_pe,
        kv,
        pe,
        q_lat if mask_u8 is None else mask_u8,
        o_part,
        lse_part,
        n_rows,
        n_heads,
        S,
        C,
        R,
        split_len,
        splits,
        scale,
        kv.stride(0),
        kv.stride(1),
        pe.stride(0),
        pe.stride(1),
        mask_sb,
        S,
        **config["fwd"],
    )
    if not one:
        _merge_splits[(batch * n_rows,)](o_part, lse_part, out, lse, splits, C, **config["merge"])
    return out, lse


def _flash_latent(
    q_lat: torch.Tensor,
    q_pe: torch.Tensor,
    kv: torch.Tensor,
    pe: torch.Tensor,
    scale: float,
    mask: torch.Tensor | None,
    kv_splits: int | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`_launch` with the config `TUNER` picks for this shape class."""
    (batch, n_t, n_heads, C), R, S = q_lat.shape, q_pe.shape[-1], kv.shape[1]
    interpret = interpreting()
    sm_count = torch.cuda.get_device_properties(kv.device).multi_processor_count if kv.is_cuda else 1
    shape = (batch, n_t, n_heads, S, C, R)
    fixed = dict(
        dtypes=(q_lat.dtype, kv.dtype),
        has_mask=mask is not None,
        interpret=interpret,
        sm_count=sm_count,
        kv_splits=kv_splits,
    )
    t_class = 1 if n_t == 1 else triton.next_power_of_2(n_t)  # decoding, or a prefill length class
    key = (batch, t_class, n_heads, triton.next_power_of_2(S), C, R, *fixed.values())

    def config(overrides: dict) -> dict:
        return launch_config(*shape, **{**fixed, **overrides})

    chosen = TUNER.pick(
        "mla_attention",
        key,
        candidates(*shape, **fixed),
        lambda o: _launch(q_lat, q_pe, kv, pe, scale, mask, config(o)),
    )
    return _launch(q_lat, q_pe, kv, pe, scale, mask, config(chosen))


class _MLAAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q_lat, q_pe, kv, pe, scale, mask, kv_splits):
        out, lse = _flash_latent(q_lat, q_pe, kv, pe, scale, mask, kv_splits)
        ctx.save_for_backward(q_lat, q_pe, kv, pe, mask, out, lse)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, dout: torch.Tensor):
        q_lat, q_pe, kv, pe, mask, out, lse = ctx.saved_tensors
        needs = ctx.needs_input_grad  # (q_lat, q_pe, kv, pe, ...)
        grads = mla_attention_backward(
            dout,
            q_lat,
            q_pe,
            kv,
            pe,
            ctx.scale,
            mask,
            out,
            lse,
            interpret=interpreting(),
            need_q=needs[0] or needs[1],
            need_kv=needs[2] or needs[3],
        )
        return (*(g if n else None for g, n in zip(grads, needs[:4], strict=True)), None, None, None)


def mla_attention_triton(
    q_lat: torch.Tensor,
    q_pe: torch.Tensor,
    kv: torch.Tensor,
    pe: torch.Tensor,
    scale: float,
    mask: torch.Tensor | None,
    kv_splits: int | None = None,
) -> torch.Tensor:
    """Absorbed MLA attention in Triton; arguments and result as `mla_attention_reference`.

    q_lat: [B, T, H, C], q_pe: [B, T, H, R] (copied if not contiguous); kv: [B, S, C], pe: [B, S, R]
    read through their batch and position strides (a slice of a larger cache is not copied; the last
    dimension must be contiguous, else it is copied); mask: [B or 1, T, S] bool or None.
    kv_splits: cache ranges to split into (default: from the shapes; > 1 only when T = 1).
    Returns [B, T, H, C] in kv's dtype. Differentiable (flash backward: `mla_attention_backward_triton`).
    """
    op = "mla_attention_triton"
    named = dict(q_lat=q_lat, q_pe=q_pe, kv=kv, pe=pe)
    check_device(op, **named, **({} if mask is None else {"mask": mask}))
    for name, t in named.items():
        check_dtype(op, name, t, FLOATS)
    check_shape(op, "q_lat", q_lat, (None, None, None, None))
    batch, n_t, n_heads, C = q_lat.shape
    check_shape(op, "kv", kv, (batch, None, C))
    S = kv.shape[1]
    check_shape(op, "q_pe", q_pe, (batch, n_t, n_heads, None))
    check_shape(op, "pe", pe, (batch, S, q_pe.shape[-1]))
    if mask is not None:
        check_dtype(op, "mask", mask, (torch.bool,))
        check_shape(op, "mask", mask, (None, n_t, S))
        if mask.shape[0] not in (1, batch):
            raise ValueError(f"{op}: mask.shape[0]={mask.shape[0]} must be 1 or B={batch}")
    if kv_splits is not None and kv_splits < 1:
        raise ValueError(f"{op}: kv_splits={kv_splits} must be >= 1")
    if S == 0 or batch * n_t == 0:
        raise ValueError(f"{op}: empty attention (B={batch}, T={n_t}, S={S})")
    kv, pe = (t if t.stride(-1) == 1 else t.contiguous() for t in (kv, pe))
    return _MLAAttention.apply(q_lat.contiguous(), q_pe.contiguous(), kv, pe, scale, mask, kv_splits)
