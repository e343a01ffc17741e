"""PyTorch's CPU grouped matmul as one op that `torch.compile` can trace: the routed experts' GEMMs
(V3 paper §2.1.2, eq. 12) inside a compiled model.

`F.grouped_mm(h, w, offs=ends)` multiplies each group of rows of `h`, sorted by group, by that
group's own matrix `w[e]`: every expert's tokens by that expert's weights, in one call. Eager
PyTorch runs it in fp32 on a CPU, but the compiler's shape function for it takes bf16 only
(torch 2.13), so a compiled model could not trace its experts. `grouped_mm` wraps it as a custom
op (`torch.library.custom_op`): the compiler records one call whose output shape it knows without
running it, and autograd differentiates it by two more grouped matmuls,
`∂h = ∂y · w[e]ᵀ` per group and `∂w[e] = h_eᵀ · ∂y_e` (the latter grouped along the rows).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


@torch.library.custom_op("r1mini::grouped_mm", mutates_args=())
def grouped_mm(a: torch.Tensor, b: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """`F.grouped_mm(a, b, offs=ends)`, in one of its two forms:

    - a [M, K] with rows sorted by group, b [E, K, N] -> [M, N]: rows `ends[e-1] .. ends[e]` of
      `a` times `b[e]` (the forward, and the gradient of its input);
    - a [K, M], b [M, N], both grouped along M -> [E, K, N]: group e's `a[:, rows] · b[rows]`
      (the gradient of the weights).

    ends: [E] int32, the cumulative row counts of the groups (each group's last row + 1).
    """
    return F.grouped_mm(a, b, offs=ends)


@grouped_mm.register_fake
def _(a: torch.Tensor, b: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    if b.dim() == 3:
        return a.new_empty(a.shape[0], b.shape[2])  # [M, N]
    return a.new_empty(ends.shape[0], a.shape[0], b.shape[1])  # [E, K, N]


def _save(ctx: Any, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
    ctx.save_for_backward(*inputs)


def _backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
    """Gradients of the first form (the only one the forward uses): grad [M, N]."""
    h, w, ends = ctx.saved_tensors  # [M, K], [E, K, N], [E]
    grad = grad.contiguous()  # it may come expanded (e.g. from a sum), which grouped_mm refuses
    grad_h = grouped_mm(grad, w.transpose(1, 2), ends)  # [M, K]
    grad_w = grouped_mm(h.t(), grad, ends)  # [E, K, N]
    return grad_h, grad_w, None


grouped_mm.register_autograd(_backward, setup_context=_save)
