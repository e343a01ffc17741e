"""FP8 weights as DeepSeek-V3's checkpoints store them: E4M3 values with one fp32 scale per 128×128
block (V3 paper §3.3.1, Figure 7a; the released `weight` + `weight_scale_inv` tensors), and the
per-tensor scaling the paper argues against.

`weight_quant` is the inverse of `r1mini.kernels.weight_dequant`: each block's largest |w| lands on
E4M3's largest value, 448, and `w ≈ w_fp8 · scale_inv`. `tensor_quant` gives a whole tensor one
scale, so a single outlier sets it for every value (§3.3.1: per-tensor scaling "makes low-precision
training highly sensitive to activation outliers"). `round_weights_to_fp8_` rounds a model's
matrices through FP8 in place, keeping in their own precision the parts V3 keeps there (§3.3: the
embedding, the output head and the MoE gate; norms are vectors).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from r1mini.fp8_format import BLOCK, FP8, FP8_MAX, TINY, weight_scale_shape
from r1mini.kernels import weight_dequant
from r1mini.model import Transformer
from r1mini.model.moe import Experts


def weight_quant(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """w: [M, N] float -> (w_fp8 [M, N] e4m3, scale_inv [ceil(M/128), ceil(N/128)] fp32).

    Edge blocks may be partial (M or N not a multiple of 128), as `weight_dequant` accepts.
    """
    if w.dim() != 2 or not w.is_floating_point():
        raise ValueError(f"w.shape={tuple(w.shape)}, dtype={w.dtype}: expected a 2-D float matrix")
    m, n = w.shape
    mb, nb = weight_scale_shape(m, n)
    padded = F.pad(w.float(), (0, nb * BLOCK - n, 0, mb * BLOCK - m))  # zeros leave amax as it is
    blocks = padded.view(mb, BLOCK, nb, BLOCK)  # [M/128, 128, N/128, 128]
    scale = blocks.abs().amax(dim=(1, 3)).clamp_min(TINY) / FP8_MAX  # [M/128, N/128]
    w_fp8 = (blocks / scale[:, None, :, None]).to(FP8).view(mb * BLOCK, nb * BLOCK)[:m, :n]
    return w_fp8.contiguous(), scale


def tensor_quant(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One scale for the whole tensor: x [...] -> (x_fp8 [...] e4m3, scale [] fp32), x ≈ x_fp8·s."""
    scale = x.float().abs().amax().clamp_min(TINY) / FP8_MAX
    return (x.float() / scale).to(FP8), scale


@torch.no_grad()
def round_weights_to_fp8_(model: Transformer) -> list[str]:
    """Replace every weight matrix by its FP8 round trip (`weight_quant`, then `weight_dequant`),
    as a model served from an FP8 checkpoint computes with; each routed expert's matrices are
    quantised on their own. The embedding, the output head and the MoE gates stay as they are.
    Returns the names of the parameters that were rounded."""
    rounded = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and module is not model.head:
            params = {"weight": module.weight}
        elif isinstance(module, Experts):
            params = {"w1": module.w1, "w2": module.w2, "w3": module.w3}  # [E, out, in] each
        else:
            continue
        for pname, p in params.items():
            for matrix in p.view(-1, *p.shape[-2:]):  # [out, in], one per expert
                matrix.copy_(weight_dequant(*weight_quant(matrix), dtype=matrix.dtype))
            rounded.append(f"{name}.{pname}")
    return rounded
