"""DeepSeek-V3's FP8 format, defined once (V3 paper §3.3): what a number is stored as, how scales
are laid out, and what that costs in bytes.

Values are E4M3 (4 exponent bits, 3 mantissa bits, largest finite value 448). Each group of values
carries one fp32 scale `s`, with `x ≈ x_fp8 · s`: weights per 128×128 block (Figure 7a; the
released checkpoints' `weight_scale_inv` [ceil(M/128), ceil(N/128)]), activations per 1×128 tile
along their last dimension (`act_quant` in DeepSeek-V3's `inference/kernel.py`). A block's scale
is `amax / 448`, so its largest value lands on 448.

Everything FP8 in r1mini reads these: the kernels (`r1mini.kernels.fp8`), weight rounding
(`r1mini.io.fp8`), the weight memory (`r1mini.accounting.weight_bytes`) and the serving
arithmetic (`r1mini.deployment`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

FP8 = torch.float8_e4m3fn
FP8_MAX = torch.finfo(FP8).max  # 448.0
BLOCK = 128  # a weight block is BLOCK × BLOCK, an activation tile 1 × BLOCK
SCALE_DTYPE = torch.float32
SCALE_BYTES = SCALE_DTYPE.itemsize  # 4: one fp32 scale per block or tile
TINY = 1e-12  # floor on a block's amax, so an all-zero block gets a finite scale


def weight_scale_shape(rows: int, cols: int) -> tuple[int, int]:
    """The scales of a [rows, cols] weight: one per 128×128 block, edge blocks partial."""
    return math.ceil(rows / BLOCK), math.ceil(cols / BLOCK)


def weight_nbytes(shape: Sequence[int]) -> int:
    """Bytes of weights of `shape` [..., rows, cols] stored in FP8: one byte per value plus one
    fp32 scale per 128×128 block of each [rows, cols] matrix (e.g. each expert of a stack)."""
    *stack, rows, cols = shape
    matrices = math.prod(stack)
    return matrices * (rows * cols + SCALE_BYTES * math.prod(weight_scale_shape(rows, cols)))


def activation_nbytes(width: int) -> int:
    """Bytes of one activation row of `width` numbers in FP8: one byte per number plus one fp32
    scale per 1×128 tile."""
    return width + SCALE_BYTES * math.ceil(width / BLOCK)
