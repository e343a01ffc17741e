"""Backward of absorbed MLA attention over the latent cache, flash-style, in Triton (V3 paper §2.1.1).

The forward (`mla_attention_triton`) computed, per row i = (query position, head) of a sequence and
cached position s, the scores `S_is = (q_lat_i · c_s + q_pe_i · k_pe_s) · scale`, probabilities
`P_is = exp(S_is − lse_i)` and the output `o_i = Σ_s P_is c_s`; it saved o and the log-sum-exp lse.
The latent c_s is both the key and the value, so its gradient has two parts:

    D_i    = Σ_c do_ic · o_ic                      (one number per row, computed once in torch)
    dP_is  = do_i · c_s          dS_is = P_is · (dP_is − D_i)
    dq_lat_i = scale · Σ_s dS_is c_s               dq_pe_i = scale · Σ_s dS_is k_pe_s
    dc_s     = Σ_i P_is do_i + scale · Σ_i dS_is q_lat_i      dk_pe_s = scale · Σ_i dS_is q_pe_i

P is recomputed from the saved lse, never stored: no [rows, S] matrix is materialised. Two kernels,
as in FlashAttention-2's backward: `_mla_bwd_dq` walks the cache for a block of rows (dq), and
`_mla_bwd_dkv` walks every row of the sequence for a block of the cache (dc, dk_pe). Because all
heads share c_s and k_pe_s, the rows of `_mla_bwd_dkv` are all T·H (position, head) pairs: the
gradient of the shared latent sums over heads, which is what makes it one matrix per sequence.
Masked pairs and rows with no allowed key (output 0, lse −inf) contribute nothing.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from r1mini.kernels.checks import dot_in_fp32, dot_tile
from r1mini.kernels.mla_tiles_triton import _load_cache, _load_rows


@triton.jit
def _scores_to_p(
    q_lat,
    q_pe,
    kv,
    pe,
    lse,
    rows,
    row_ok,
    s,
    s_ok,
    b,
    mask_ptr,
    mask_sb,
    mask_st,
    n_heads,
    scale,
    HAS_MASK: tl.constexpr,
):
    """P [BM, BS] recomputed from the saved lse, zero where the pair is masked."""
    scores = (tl.dot(q_lat, tl.trans(kv)) + tl.dot(q_pe, tl.trans(pe))) * scale  # [BM, BS]
    allowed = row_ok[:, None] & s_ok[None, :] & (lse[:, None] != float("-inf"))
    if HAS_MASK:
        m_off = b * mask_sb + (rows // n_heads)[:, None] * mask_st + s[None, :]
        allowed &= tl.load(mask_ptr + m_off, mask=allowed, other=0) != 0
    lse_safe = tl.where(lse == float("-inf"), 0.0, lse)
    return tl.where(allowed, tl.exp(scores - lse_safe[:, None]), 0.0)


@triton.jit
def _load_grad_rows(dout_ptr, lse_ptr, delta_ptr, q_row, row_ok, c, C, DOT_FP32: tl.constexpr):
    """The output gradient [BM, BC], saved log-sum-exp [BM] and D [BM] of rows `q_row`."""
    do = tl.load(
        dout_ptr + q_row[:, None] * C + c[None, :], mask=row_ok[:, None] & (c[None, :] < C), other=0.0
    )
    if DOT_FP32:
        do = do.to(tl.float32)
    lse = tl.load(lse_ptr + q_row, mask=row_ok, other=float("-inf"))
    delta = tl.load(delta_ptr + q_row, mask=row_ok, other=0.0)
    return do, lse, delta


@triton.jit
def _mla_bwd_dq(
    q_lat_ptr,
    q_pe_ptr,
    kv_ptr,
    pe_ptr,
    mask_ptr,
    dout_ptr,
    lse_ptr,
    delta_ptr,
    dq_lat_ptr,
    dq_pe_ptr,
    n_rows,
    n_heads,
    S,
    C,
    R,
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
    pid_m, b = tl.program_id(0), tl.program_id(1).to(tl.int64)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)  # [BM] row = t * H + h
    row_ok = rows < n_rows
    c = tl.arange(0, BLOCK_C)  # [BC]
    r = tl.arange(0, BLOCK_R)  # [BR]
    q_row = b * n_rows + rows  # [BM]
    q_lat, q_pe = _load_rows(q_lat_ptr, q_pe_ptr, q_row, row_ok, c, r, C, R, DOT_FP32)  # [BM, BC], [BM, BR]
    do, lse, delta = _load_grad_rows(dout_ptr, lse_ptr, delta_ptr, q_row, row_ok, c, C, DOT_FP32)
    dq_lat = tl.zeros([BLOCK_M, BLOCK_C], dtype=tl.float32)
    dq_pe = tl.zeros([BLOCK_M, BLOCK_R], dtype=tl.float32)
    for s0 in range(0, S, BLOCK_S):
        s = s0 + tl.arange(0, BLOCK_S)  # [BS]
        s_ok = s < S
        kv, pe = _load_cache(
            kv_ptr, pe_ptr, b, s, s_ok, c, r, C, R, kv_sb, kv_ss, pe_sb, pe_ss, DOT_FP32
        )  # [BS, BC], [BS, BR]
        p = _scores_to_p(
            q_lat,
            q_pe,
            kv,
            pe,
            lse,
            rows,
            row_ok,
            s,
            s_ok,
            b,
            mask_ptr,
            mask_sb,
            mask_st,
            n_heads,
            scale,
            HAS_MASK,
        )  # [BM, BS]
        dp = tl.dot(do, tl.trans(kv))  # [BM, BS]
        ds = (p * (dp - delta[:, None])).to(kv.dtype)  # [BM, BS]
        dq_lat = tl.dot(ds, kv, dq_lat)
        dq_pe = tl.dot(ds, pe, dq_pe)
    tl.store(
        dq_lat_ptr + q_row[:, None] * C + c[None, :],
        (dq_lat * scale).to(dq_lat_ptr.dtype.element_ty),
        mask=row_ok[:, None] & (c[None, :] < C),
    )
    tl.store(
        dq_pe_ptr + q_row[:, None] * R + r[None, :],
        (dq_pe * scale).to(dq_pe_ptr.dtype.element_ty),
        mask=row_ok[:, None] & (r[None, :] < R),
    )


@triton.jit
def _mla_bwd_dkv(
    q_lat_ptr,
    q_pe_ptr,
    kv_ptr,
    pe_ptr,
    mask_ptr,
    dout_ptr,
    lse_ptr,
    delta_ptr,
    dkv_ptr,
    dpe_ptr,
    n_rows,
    n_heads,
    S,
    C,
    R,
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
    pid_s, b = tl.program_id(0), tl.program_id(1).to(tl.int64)
    s = pid_s * BLOCK_S + tl.arange(0, BLOCK_S)  # [BS] cached positions
    s_ok = s < S
    c = tl.arange(0, BLOCK_C)  # [BC]
    r = tl.arange(0, BLOCK_R)  # [BR]
    kv, pe = _load_cache(
        kv_ptr, pe_ptr, b, s, s_ok, c, r, C, R, kv_sb, kv_ss, pe_sb, pe_ss, DOT_FP32
    )  # [BS, BC], [BS, BR]
    dkv = tl.zeros([BLOCK_S, BLOCK_C], dtype=tl.float32)
    dpe = tl.zeros([BLOCK_S, BLOCK_R], dtype=tl.float32)
    for m0 in range(0, n_rows, BLOCK_M):
        rows = m0 + tl.arange(0, BLOCK_M)  # [BM] row = t * H + h
        row_ok = rows < n_rows
        q_row = b * n_rows + rows
        q_lat, q_pe = _load_rows(q_lat_ptr, q_pe_ptr, q_row, row_ok, c, r, C, R, DOT_FP32)
        do, lse, delta = _load_grad_rows(dout_ptr, lse_ptr, delta_ptr, q_row, row_ok, c, C, DOT_FP32)
        p = _scores_to_p(
            q_lat,
            q_pe,
            kv,
            pe,
            lse,
            rows,
            row_ok,
            s,
            s_ok,
            b,
            mask_ptr,
            mask_sb,
            mask_st,
            n_heads,
            scale,
            HAS_MASK,
        )  # [BM, BS]
        dp = tl.dot(do, tl.trans(kv))  # [BM, BS]
        ds = p * (dp - delta[:, None]) * scale  # [BM, BS]
        dkv = tl.dot(tl.trans(p.to(do.dtype)), do, dkv)  # c as the value
        dkv = tl.dot(tl.trans(ds.to(q_lat.dtype)), q_lat, dkv)  # c as the key
        dpe = tl.dot(tl.trans(ds.to(q_pe.dtype)), q_pe, dpe)
    out_row = b * S + s  # [BS] rows of the contiguous [B, S, ·] gradients
    tl.store(
        dkv_ptr + out_row[:, None] * C + c[None, :],
        dkv.to(dkv_ptr.dtype.element_ty),
        mask=s_ok[:, None] & (c[None, :] < C),
    )
    tl.store(
        dpe_ptr + out_row[:, None] * R + r[None, :],
        dpe.to(dpe_ptr.dtype.element_ty),
        mask=s_ok[:, None] & (r[None, :] < R),
    )


def backward_config(
    n_rows: int, S: int, C: int, R: int, *, dtypes: tuple[torch.dtype, ...], has_mask: bool, interpret: bool
) -> dict[str, dict]:
    """Tiles of the two launches. Each program keeps row-wide [·, C] fp32 accumulators and tiles
    (C = 512 at full size), so on a GPU, when C >= 256, the blocks are 16 rows x 32 cache positions
    (dq) and 16 x 16 (dc, dk_pe) with 8 warps; up to 32 x 32 with 4 warps otherwise; interpreting,
    up to 64 x 64."""
    big_c = C >= 256 and not interpret
    cap = 64 if interpret else (16 if big_c else 32)
    shared = dict(
        HAS_MASK=has_mask,
        DOT_FP32=dot_in_fp32(*dtypes, interpret=interpret),
        BLOCK_C=triton.next_power_of_2(C),
        BLOCK_R=dot_tile(R, 256),
        num_warps=8 if big_c else 4,
    )
    s_cap = 64 if interpret else 32
    dq = dict(shared, BLOCK_M=dot_tile(n_rows, cap), BLOCK_S=dot_tile(S, s_cap))
    # the cache-side kernel holds [BLOCK_S, C] accumulators instead: fewer cache rows when C is large
    dkv = dict(shared, BLOCK_M=dot_tile(n_rows, cap), BLOCK_S=dot_tile(S, 16 if big_c else s_cap))
    return {"dq": dq, "dkv": dkv}


def mla_attention_backward(
    dout: torch.Tensor,
    q_lat: torch.Tensor,
    q_pe: torch.Tensor,
    kv: torch.Tensor,
    pe: torch.Tensor,
    scale: float,
    mask: torch.Tensor | None,
    out: torch.Tensor,
    lse: torch.Tensor,
    interpret: bool,
    need_q: bool = True,
    need_kv: bool = True,
) -> tuple[torch.Tensor | None, ...]:
    """(dq_lat, dq_pe, dkv, dpe) for the output gradient `dout` [B, T, H, C]; `need_q`, `need_kv`:
    whether to launch the query-side and the cache-side kernel (None for the skipped gradients).

    q_lat [B, T, H, C] and q_pe [B, T, H, R] contiguous; kv [B, S, C] and pe [B, S, R] with a
    contiguous last dimension; mask [B or 1, T, S] bool or None; out [B, T, H, C] and lse [B, T·H]
    fp32 as the forward saved them. Gradients come back contiguous, in their inputs' dtypes.
    """
    (batch, n_t, n_heads, C), R, S = q_lat.shape, q_pe.shape[-1], kv.shape[1]
    n_rows = n_t * n_heads
    dout = dout.contiguous()
    delta = (dout.float() * out.float()).sum(-1).view(batch, n_rows)  # [B, T·H] D_i = do_i · o_i
    config = backward_config(
        n_rows, S, C, R, dtypes=(q_lat.dtype, kv.dtype), has_mask=mask is not None, interpret=interpret
    )
    mask_u8 = q_lat if mask is None else mask.contiguous().view(torch.uint8)  # [B or 1, T, S]
    mask_sb = 0 if mask is None or mask.shape[0] == 1 else n_t * S
    common = (
        n_rows,
        n_heads,
        S,
        C,
        R,
        scale,
        kv.stride(0),
        kv.stride(1),
        pe.stride(0),
        pe.stride(1),
        mask_sb,
        S,
    )
    dq_lat = dq_pe = dkv = dpe = None
    if need_q:
        dq_lat, dq_pe = torch.empty_like(q_lat), torch.empty_like(q_pe)
        dq = config["dq"]
        _mla_bwd_dq[(triton.cdiv(n_rows, dq["BLOCK_M"]), batch)](
            q_lat, q_pe, kv, pe, mask_u8, dout, lse, delta, dq_lat, dq_pe, *common, **dq
        )
    if need_kv:
        dkv = torch.empty(batch, S, C, dtype=kv.dtype, device=kv.device)  # [B, S, C]
        dpe = torch.empty(batch, S, R, dtype=pe.dtype, device=pe.device)  # [B, S, R]
        dk = config["dkv"]
        _mla_bwd_dkv[(triton.cdiv(S, dk["BLOCK_S"]), batch)](
            q_lat, q_pe, kv, pe, mask_u8, dout, lse, delta, dkv, dpe, *common, **dk
        )
    return dq_lat, dq_pe, dkv, dpe
