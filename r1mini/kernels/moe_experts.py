"""Routed SwiGLU experts applied to the (token, expert) pairs the router chose, combined by gate
weight.

V3 paper §2.1.2, eq. 12: `h'_t = u_t + Σ_i FFN_i^(s)(u_t) + Σ_i g_{i,t} FFN_i^(r)(u_t)`; this op is
the routed sum. Each expert is `w2 · (silu(w1 · x) * (w3 · x))`. Expert weights are stacked so that
one grouped GEMM (the Triton kernel) can serve every expert in one launch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from r1mini.kernels.backend import wants_triton


def moe_experts_reference(
    x: torch.Tensor,
    ids: torch.Tensor,
    weights: torch.Tensor,
    w1: torch.Tensor,
    w2: torch.Tensor,
    w3: torch.Tensor,
) -> torch.Tensor:
    """Loop over the experts that received tokens.

    Args:
        x: [N, d] tokens. ids, weights: [N, k] routing from `route`.
        w1, w3: [E, I, d] gate and up projections; w2: [E, d, I] down projection.
    Returns:
        [N, d] the weighted sum of each token's k expert outputs.
    """
    out = torch.zeros_like(x)  # [N, d]
    counts = torch.bincount(ids.flatten(), minlength=w1.shape[0]).tolist()  # tokens per expert
    for expert, count in enumerate(counts):
        if count == 0:
            continue
        token, slot = torch.where(ids == expert)  # [n_e], [n_e]
        h = x[token]  # [n_e, d]
        y = F.linear(F.silu(F.linear(h, w1[expert])) * F.linear(h, w3[expert]), w2[expert])
        out.index_add_(0, token, (y * weights[token, slot, None]).to(x.dtype))
    return out


def moe_experts(
    x: torch.Tensor,
    ids: torch.Tensor,
    weights: torch.Tensor,
    w1: torch.Tensor,
    w2: torch.Tensor,
    w3: torch.Tensor,
) -> torch.Tensor:
    """`moe_experts_reference` through the chosen backend (same arguments and result)."""
    if wants_triton(x):
        from r1mini.kernels.moe_experts_triton import moe_experts_triton

        return moe_experts_triton(x, ids, weights, w1, w2, w3)
    return moe_experts_reference(x, ids, weights, w1, w2, w3)
