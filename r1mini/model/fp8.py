"""Weights kept in FP8, as DeepSeek serves V3/R1 (V3 paper §3.3): layers that hold e4m3 values and
their 128×128 block scales, and compute through `r1mini.kernels`' FP8 ops.

`FP8Linear` replaces an `nn.Linear`: its input is quantised per token per 128 channels
(`act_quant`, 1×128 tiles) and multiplied by the weight's 128×128 blocks with fp32 accumulation
(`fp8_gemm`), the recipe of DeepSeek's `inference/kernel.py`. `FP8Experts` replaces the stacked
routed experts: at rest they stay FP8 (1 byte per weight); each forward dequantises only the
experts its tokens were routed to. `use_fp8(model, names)` swaps the named modules in place, before
the weights are loaded (e.g. on the meta device, by `r1mini.io.load_pretrained`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from r1mini.fp8_format import BLOCK, FP8, weight_scale_shape
from r1mini.kernels import act_quant, fp8_gemm, moe_experts, weight_dequant
from r1mini.model.moe import Experts


class FP8Linear(nn.Module):
    """`y = x Wᵀ` with W in e4m3. Buffers: weight [out, in] e4m3, weight_scale_inv
    [ceil(out/128), ceil(in/128)] fp32, the names of the published checkpoints."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight", torch.empty(out_features, in_features, dtype=FP8))
        self.register_buffer("weight_scale_inv", torch.empty(weight_scale_shape(out_features, in_features)))

    def dequantized(self, dtype: torch.dtype) -> torch.Tensor:
        """The weight in `dtype`, [out, in]."""
        return weight_dequant(self.weight, self.weight_scale_inv, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [..., in] -> [..., out] in x's dtype. Widths that are not a multiple of 128 (tiny
        models) cannot be tiled per 128 channels; they multiply by the dequantised weight."""
        if self.in_features % BLOCK:
            return F.linear(x, self.dequantized(x.dtype))
        x_fp8, x_scale = act_quant(x)  # [..., in] e4m3, [..., in/128] fp32
        return fp8_gemm(x_fp8, x_scale, self.weight, self.weight_scale_inv, x.dtype)


class FP8Experts(nn.Module):
    """Routed experts stored in e4m3. Buffers: w1, w3 [E, I, dim], w2 [E, dim, I] and their
    `*_scale_inv` [E, blocks, blocks] fp32 (each expert quantised on its own, as published)."""

    def __init__(self, n_experts: int, dim: int, inter_dim: int) -> None:
        super().__init__()
        for name, (rows, cols) in {
            "w1": (inter_dim, dim),
            "w2": (dim, inter_dim),
            "w3": (inter_dim, dim),
        }.items():
            self.register_buffer(name, torch.empty(n_experts, rows, cols, dtype=FP8))
            self.register_buffer(f"{name}_scale_inv", torch.empty(n_experts, *weight_scale_shape(rows, cols)))

    def forward(self, x: torch.Tensor, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """x: [N, dim], ids/weights: [N, k] -> [N, dim]; only the routed-to experts are dequantised."""
        used = ids.unique()  # [U] sorted expert ids
        stacks = [
            torch.stack([weight_dequant(w[e], scale[e], x.dtype) for e in used.tolist()])  # [U, ., .]
            for w, scale in (
                (self.w1, self.w1_scale_inv),
                (self.w2, self.w2_scale_inv),
                (self.w3, self.w3_scale_inv),
            )
        ]
        local = torch.searchsorted(used, ids)  # [N, k]: each id's row in the stacks
        return moe_experts(x, local, weights, *stacks)


def dequantized(linear: nn.Module, dtype: torch.dtype) -> torch.Tensor:
    """The weight of an `nn.Linear` or `FP8Linear` as a `dtype` matrix [out, in] (MLA's absorbed
    path reads `wkv_b`'s weight directly)."""
    if isinstance(linear, FP8Linear):
        return linear.dequantized(dtype)
    return linear.weight


def use_fp8(model: nn.Module, names: set[str]) -> None:
    """Replace, in place, each module of `model` named in `names` (an `nn.Linear` or `Experts`) by
    an `FP8Linear` or `FP8Experts` of the same shapes, whose contents are then loaded."""
    for name in names:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        sub = getattr(parent, attr)
        if isinstance(sub, nn.Linear):
            setattr(parent, attr, FP8Linear(sub.in_features, sub.out_features))
        elif isinstance(sub, Experts):
            n_experts, inter_dim, dim = sub.w1.shape
            setattr(parent, attr, FP8Experts(n_experts, dim, inter_dim))
        else:
            raise ValueError(f"use_fp8: {name} is a {type(sub).__name__}, not a Linear or Experts")
