"""RMSNorm as a module (the op itself lives in `r1mini.kernels.rmsnorm`)."""

from __future__ import annotations

import torch
from torch import nn

from r1mini.kernels import rms_norm


class RMSNorm(nn.Module):
    """Root-mean-square layer norm with a learned per-channel scale. x: [..., dim] -> [..., dim]."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)
