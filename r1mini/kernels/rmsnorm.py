"""RMSNorm (Zhang & Sennrich 2019), used before every attention and FFN block of DeepSeek-V3 and on
the compressed query/key-value latents of MLA (V3 paper §2.1.1).

`y = x / sqrt(mean(x²) + eps) * weight`, computed in fp32 and returned in the input's dtype.
"""

from __future__ import annotations

import torch

from r1mini.kernels.backend import wants_triton


def rms_norm_reference(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """x: [..., d], weight: [d] -> [..., d]."""
    x32 = x.float()
    y = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)
    return weight * y.to(x.dtype)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm through the chosen backend. x: [..., d], weight: [d] -> [..., d]."""
    if wants_triton(x):
        from r1mini.kernels.rmsnorm_triton import rms_norm_triton

        return rms_norm_triton(x, weight, eps)
    return rms_norm_reference(x, weight, eps)
