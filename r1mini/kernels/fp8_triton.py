"""FP8 block quantisation kernels in Triton (V3 paper §3.3; the recipe of DeepSeek-V3
`inference/kernel.py`).

- `act_quant`: one program per 1×128 block of activations: amax, `s = amax/448`, store `x/s` as
  e4m3. Interpreter caveat: triton 3.9's interpreter rounds fp32 -> e4m3 wrongly when rounding
  carries into the exponent (124.3 becomes 64, not 128), so when interpreting the kernel stores
  `x/s` in fp32 and PyTorch does the final cast; compiled for a GPU, the kernel stores e4m3 itself.
- `weight_dequant`: one program per 128×128 weight block: `w_fp8 · s`.
- `fp8_gemm`: `C = A·Bᵀ`, tiles [BLOCK_M, BLOCK_N], K walked in 128-wide slices; each slice's e4m3
  product is accumulated by `tl.dot` in fp32, then scaled by the row's activation scale and the
  column block's weight scale before it joins the fp32 accumulator (V3 §3.3.2: scales applied per
  K-block of 128).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from r1mini.fp8_format import BLOCK, FP8, FP8_MAX, TINY
from r1mini.kernels.checks import (
    FLOATS,
    check_device,
    check_dtype,
    check_shape,
    interpreting,
)
from r1mini.kernels.fp8_launch import act_quant_store_dtype, gemm_candidates, gemm_config
from r1mini.kernels.tuning import TUNER

# A compiled kernel reads module globals only as `tl.constexpr`: with plain floats `_act_quant` ran in
# the interpreter but did not compile ("Cannot access global variable TINY"; compile_check.py).
_TINY, _FP8_MAX = tl.constexpr(TINY), tl.constexpr(FP8_MAX)


@triton.jit
def _act_quant(x_ptr, y_ptr, s_ptr, BLOCK: tl.constexpr):
    blk = tl.program_id(0).to(tl.int64)
    offs = blk * BLOCK + tl.arange(0, BLOCK)  # [128] one 1×128 block
    x = tl.load(x_ptr + offs).to(tl.float32)
    s = tl.maximum(tl.max(tl.abs(x), axis=0), _TINY) / _FP8_MAX
    tl.store(y_ptr + offs, (x / s).to(y_ptr.dtype.element_ty))
    tl.store(s_ptr + blk, s)


@triton.jit
def _weight_dequant(w_ptr, s_ptr, y_ptr, M, N, BLOCK: tl.constexpr):
    bm, bn = tl.program_id(0), tl.program_id(1)
    rows = bm * BLOCK + tl.arange(0, BLOCK)  # [128]
    cols = bn * BLOCK + tl.arange(0, BLOCK)  # [128]
    inside = (rows[:, None] < M) & (cols[None, :] < N)
    offs = rows[:, None].to(tl.int64) * N + cols[None, :]  # [128, 128]
    w = tl.load(w_ptr + offs, mask=inside, other=0.0).to(tl.float32)
    s = tl.load(s_ptr + bm * tl.cdiv(N, BLOCK) + bn)
    tl.store(y_ptr + offs, (w * s).to(y_ptr.dtype.element_ty), mask=inside)


@triton.jit
def _fp8_gemm(
    a_ptr,
    b_ptr,
    c_ptr,
    a_s_ptr,
    b_s_ptr,
    M,
    N,
    K,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # [BM]
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)  # [BN]
    ks = tl.arange(0, BLOCK_K)  # [128]
    row_ok, col_ok = rows < M, cols < N
    k_blocks = K // BLOCK_K
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for i in range(k_blocks):
        kk = i * BLOCK_K + ks
        a = tl.load(a_ptr + rows[:, None].to(tl.int64) * K + kk[None, :], mask=row_ok[:, None], other=0.0)
        b = tl.load(b_ptr + cols[None, :].to(tl.int64) * K + kk[:, None], mask=col_ok[None, :], other=0.0)
        a_s = tl.load(a_s_ptr + rows * k_blocks + i, mask=row_ok, other=0.0)  # [BM]
        b_s = tl.load(b_s_ptr + (cols // BLOCK_K) * k_blocks + i, mask=col_ok, other=0.0)  # [BN]
        acc += tl.dot(a, b) * a_s[:, None] * b_s[None, :]  # [BM, BN] one K-slice, rescaled
    c_off = rows[:, None].to(tl.int64) * N + cols[None, :]
    tl.store(c_ptr + c_off, acc.to(c_ptr.dtype.element_ty), mask=row_ok[:, None] & col_ok[None, :])


def _check_fp8(op: str, name: str, t: torch.Tensor) -> None:
    check_dtype(op, name, t, (FP8,))
    if t.dim() == 0 or t.shape[-1] % BLOCK:
        raise ValueError(
            f"{op}: {name}.shape={tuple(t.shape)}: the last dimension must be a multiple of {BLOCK}"
        )


def act_quant_triton(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x: [..., d] (fp32/fp16/bf16, d a multiple of 128; copied if not contiguous) ->
    (x_fp8 [..., d] e4m3, scale [..., d/128] fp32), as `act_quant_reference`."""
    op = "act_quant_triton"
    check_device(op, x=x)
    check_dtype(op, "x", x, FLOATS)
    if x.dim() == 0 or x.shape[-1] % BLOCK:
        raise ValueError(f"{op}: x.shape={tuple(x.shape)}: the last dimension must be a multiple of {BLOCK}")
    x = x.contiguous()
    y = torch.empty(x.shape, dtype=act_quant_store_dtype(interpreting()), device=x.device)
    s = torch.empty(*x.shape[:-1], x.shape[-1] // BLOCK, dtype=torch.float32, device=x.device)
    if x.numel():
        _act_quant[(x.numel() // BLOCK,)](x, y, s, BLOCK=BLOCK)
    return y.to(FP8), s


def weight_dequant_triton(
    w_fp8: torch.Tensor, scale_inv: torch.Tensor, dtype: torch.dtype = torch.bfloat16
) -> torch.Tensor:
    """w_fp8: [M, N] e4m3, scale_inv: [ceil(M/128), ceil(N/128)] fp32 -> [M, N] in `dtype`."""
    op = "weight_dequant_triton"
    check_device(op, w_fp8=w_fp8, scale_inv=scale_inv)
    check_dtype(op, "w_fp8", w_fp8, (FP8,))
    check_dtype(op, "scale_inv", scale_inv, (torch.float32,))
    check_shape(op, "w_fp8", w_fp8, (None, None))
    m, n = w_fp8.shape
    check_shape(op, "scale_inv", scale_inv, (triton.cdiv(m, BLOCK), triton.cdiv(n, BLOCK)))
    y = torch.empty(m, n, dtype=dtype, device=w_fp8.device)  # [M, N]
    grid = (triton.cdiv(m, BLOCK), triton.cdiv(n, BLOCK))
    _weight_dequant[grid](w_fp8.contiguous(), scale_inv.contiguous(), y, m, n, BLOCK=BLOCK)
    return y


def fp8_gemm_triton(
    a_fp8: torch.Tensor,
    a_scale: torch.Tensor,
    b_fp8: torch.Tensor,
    b_scale: torch.Tensor,
    dtype: torch.dtype = torch.bfloat16,
) -> torch.Tensor:
    """`a · bᵀ` with per-block scales, as `fp8_gemm_reference`: a_fp8 [..., K],
    a_scale [..., K/128], b_fp8 [N, K], b_scale [ceil(N/128), K/128] -> [..., N] in `dtype`.
    K must be a multiple of 128."""
    op = "fp8_gemm_triton"
    check_device(op, a_fp8=a_fp8, a_scale=a_scale, b_fp8=b_fp8, b_scale=b_scale)
    _check_fp8(op, "a_fp8", a_fp8)
    _check_fp8(op, "b_fp8", b_fp8)
    check_dtype(op, "a_scale", a_scale, (torch.float32,))
    check_dtype(op, "b_scale", b_scale, (torch.float32,))
    k = a_fp8.shape[-1]
    check_shape(op, "b_fp8", b_fp8, (None, k))
    n = b_fp8.shape[0]
    check_shape(op, "a_scale", a_scale, (*a_fp8.shape[:-1], k // BLOCK))
    check_shape(op, "b_scale", b_scale, (triton.cdiv(n, BLOCK), k // BLOCK))
    a2 = a_fp8.reshape(-1, k).contiguous()  # [M, K]
    m = a2.shape[0]
    c = torch.empty(m, n, dtype=dtype, device=a_fp8.device)  # [M, N]
    b2, a_s, b_s = b_fp8.contiguous(), a_scale.reshape(m, -1).contiguous(), b_scale.contiguous()
    interpret = interpreting()

    def launch(overrides: dict) -> None:
        config = gemm_config(m, interpret, **overrides)
        grid = (triton.cdiv(m, config["BLOCK_M"]), triton.cdiv(n, config["BLOCK_N"]))
        _fp8_gemm[grid](a2, b2, c, a_s, b_s, m, n, k, **config)

    key = (triton.next_power_of_2(m), n, k, dtype)
    launch(TUNER.pick("fp8_gemm", key, gemm_candidates(m, interpret), launch))
    return c.view(*a_fp8.shape[:-1], n)
