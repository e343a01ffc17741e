"""FP8 block quantisation as trained and served by DeepSeek-V3 (V3 paper §3.3, "fine-grained
quantisation").

Numbers are stored as E4M3 (largest finite value 448) with one fp32 scale per block:
activations per token per 128 channels (1×128 tiles), weights per 128×128 block
(`r1mini.fp8_format`, where the format is defined). A block's scale is `s = amax / 448`, so its
largest element lands on 448; `x ≈ x_fp8 · s`. Checkpoints store the weight scales as
`weight_scale_inv` (the `s` to multiply by when dequantising). The GEMM accumulates each
128-wide slice of K in fp32 and applies both scales per slice (§3.3.2: "increasing accumulation
precision"), the recipe of the repository's `inference/kernel.py`.
"""

from __future__ import annotations

import torch

from r1mini.fp8_format import BLOCK, FP8, FP8_MAX, TINY
from r1mini.kernels.backend import wants_triton


def act_quant_reference(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x: [..., d] with d a multiple of 128 -> (x_fp8 [..., d] e4m3, scale [..., d/128] fp32)."""
    blocks = x.float().unflatten(-1, (-1, BLOCK))  # [..., d/128, 128]
    scale = blocks.abs().amax(dim=-1).clamp_min(TINY) / FP8_MAX  # [..., d/128]
    x_fp8 = (blocks / scale[..., None]).to(FP8).flatten(-2)  # [..., d]
    return x_fp8, scale


def weight_dequant_reference(
    w_fp8: torch.Tensor, scale_inv: torch.Tensor, dtype: torch.dtype = torch.bfloat16
) -> torch.Tensor:
    """w_fp8: [M, N] e4m3, scale_inv: [ceil(M/128), ceil(N/128)] fp32 -> [M, N] in `dtype`."""
    m, n = w_fp8.shape
    scale = scale_inv.repeat_interleave(BLOCK, 0)[:m].repeat_interleave(BLOCK, 1)[:, :n]  # [M, N]
    return (w_fp8.float() * scale).to(dtype)


def fp8_gemm_reference(
    a_fp8: torch.Tensor,
    a_scale: torch.Tensor,
    b_fp8: torch.Tensor,
    b_scale: torch.Tensor,
    dtype: torch.dtype = torch.bfloat16,
) -> torch.Tensor:
    """`a · bᵀ` from block-quantised operands, as `F.linear(x, W)` with x = a, W = b.

    a_fp8: [..., K] with a_scale [..., K/128] (from `act_quant`); b_fp8: [N, K] with
    b_scale [ceil(N/128), K/128] (a checkpoint's weight and weight_scale_inv).
    Returns [..., N] in `dtype`.
    """
    a = a_fp8.float() * a_scale.repeat_interleave(BLOCK, -1)  # [..., K]
    b = weight_dequant_reference(b_fp8, b_scale, torch.float32)  # [N, K]
    return (a @ b.T).to(dtype)


def act_quant(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`act_quant_reference` through the chosen backend."""
    if wants_triton(x):
        from r1mini.kernels.fp8_triton import act_quant_triton

        return act_quant_triton(x)
    return act_quant_reference(x)


def weight_dequant(
    w_fp8: torch.Tensor, scale_inv: torch.Tensor, dtype: torch.dtype = torch.bfloat16
) -> torch.Tensor:
    """`weight_dequant_reference` through the chosen backend."""
    if wants_triton(w_fp8):
        from r1mini.kernels.fp8_triton import weight_dequant_triton

        return weight_dequant_triton(w_fp8, scale_inv, dtype)
    return weight_dequant_reference(w_fp8, scale_inv, dtype)


def fp8_gemm(
    a_fp8: torch.Tensor,
    a_scale: torch.Tensor,
    b_fp8: torch.Tensor,
    b_scale: torch.Tensor,
    dtype: torch.dtype = torch.bfloat16,
) -> torch.Tensor:
    """`fp8_gemm_reference` through the chosen backend."""
    if wants_triton(a_fp8):
        from r1mini.kernels.fp8_triton import fp8_gemm_triton

        return fp8_gemm_triton(a_fp8, a_scale, b_fp8, b_scale, dtype)
    return fp8_gemm_reference(a_fp8, a_scale, b_fp8, b_scale, dtype)
