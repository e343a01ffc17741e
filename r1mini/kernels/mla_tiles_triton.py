"""Tile loads shared by the MLA attention kernels, forward (`mla_attention_triton`) and backward
(`mla_attention_backward_triton`): query-side rows (the latent part and its rope partner, by row
index) and cache-side positions (through the caches' batch and position strides, so a slice of a
larger cache is read in place). `@triton.jit` device functions, compiled into their callers.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _load_rows(lat_ptr, pe_ptr, q_row, row_ok, c, r, C, R, DOT_FP32: tl.constexpr):
    """Rows `q_row` [BM] of a [*, C] latent tensor and of its [*, R] rope partner: [BM, BC], [BM, BR]."""
    lat = tl.load(
        lat_ptr + q_row[:, None] * C + c[None, :], mask=row_ok[:, None] & (c[None, :] < C), other=0.0
    )
    pe = tl.load(pe_ptr + q_row[:, None] * R + r[None, :], mask=row_ok[:, None] & (r[None, :] < R), other=0.0)
    if DOT_FP32:
        lat, pe = lat.to(tl.float32), pe.to(tl.float32)
    return lat, pe


@triton.jit
def _load_cache(kv_ptr, pe_ptr, b, s, s_ok, c, r, C, R, kv_sb, kv_ss, pe_sb, pe_ss, DOT_FP32: tl.constexpr):
    """Cached positions `s` [BS] of sequence b, through the caches' strides: c [BS, BC], k_pe [BS, BR]."""
    kv = tl.load(
        kv_ptr + b * kv_sb + s[:, None] * kv_ss + c[None, :], mask=s_ok[:, None] & (c[None, :] < C), other=0.0
    )
    pe = tl.load(
        pe_ptr + b * pe_sb + s[:, None] * pe_ss + r[None, :], mask=s_ok[:, None] & (r[None, :] < R), other=0.0
    )
    if DOT_FP32:
        kv, pe = kv.to(tl.float32), pe.to(tl.float32)
    return kv, pe
