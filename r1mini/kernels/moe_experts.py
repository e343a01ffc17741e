"""Routed SwiGLU experts applied to the (token, expert) pairs the router chose, combined by gate
weight.

V3 paper §2.1.2, eq. 12: `h'_t = u_t + Σ_i FFN_i^(s)(u_t) + Σ_i g_{i,t} FFN_i^(r)(u_t)`; this op is
the routed sum. Each expert is `w2 · (silu(w1 · x) * (w3 · x))`. Expert weights are stacked so that
one grouped GEMM can serve every expert at once: the Triton kernel on a GPU, `moe_experts_grouped`
(PyTorch's grouped matmul, or a padded batched matmul) on the PyTorch path; `moe_experts_reference`
loops over the experts, the plainest statement of the maths. `moe_experts_dense` runs every expert
on every token and weights the outputs by the routing: no shape depends on the routing, which is
what a graph export (`torch.export`, ONNX) needs, and it is taken while one traces the model.
Under `torch.compile` the grouped matmul runs as a custom op the compiler can trace
(`grouped_mm.py`), so a compiled model keeps its experts in the graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from r1mini.kernels.backend import exporting, wants_triton


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


GATHER_LIMIT = 2**20  # elements of gathered expert weights (4 MiB in fp32, cache-sized) worth copying


def takes_grouped_mm(x: torch.Tensor, inter_dim: int) -> bool:
    """Whether PyTorch's CPU grouped matmul (`torch.nn.functional.grouped_mm`, torch >= 2.10) takes
    the experts' GEMMs: fp32/bf16/fp16, with rows of `dim` and `inter_dim` a multiple of 16 bytes."""
    return (
        hasattr(F, "grouped_mm")
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.bfloat16, torch.float16)
        and all(n * x.element_size() % 16 == 0 for n in (x.shape[1], inter_dim))
    )


def padded_matmul(counts: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """`(h, w) -> [M, out]`, each row of `h` [M, in] times its group's `w[e]ᵀ` (`w`: [E, out, in]),
    for rows sorted by group, `counts[e]` [E] of them in group e: every group's rows padded to the
    largest count, then one batched matmul over `[E, max count, in]`."""
    n_groups, n_rows = counts.shape[0], int(counts.sum())
    width = int(counts.max())  # rows of the largest group
    group = torch.repeat_interleave(torch.arange(n_groups, device=counts.device), counts, output_size=n_rows)
    rank = torch.arange(n_rows, device=counts.device) - (counts.cumsum(0) - counts)[group]  # [M]
    slot = group * width + rank  # [M]: each row's place in the padded [E·width] layout

    def matmul(h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        blocks = h.new_zeros(n_groups * width, h.shape[1]).index_copy(0, slot, h)  # [E·width, in]
        out = torch.bmm(blocks.view(n_groups, width, -1), w.transpose(1, 2))  # [E, width, out]
        return out.flatten(0, 1).index_select(0, slot)  # [M, out]

    return matmul


def expert_counts(ids: torch.Tensor, n_experts: int) -> torch.Tensor:
    """[n_experts] int64: how often each expert occurs in `ids` (any shape). `torch.bincount` with
    a fixed length, written so that its shape does not depend on the values (which a compiled
    graph needs)."""
    flat = ids.flatten()
    return flat.new_zeros(n_experts).scatter_add_(0, flat, torch.ones_like(flat))


def moe_experts_grouped(
    x: torch.Tensor,
    ids: torch.Tensor,
    weights: torch.Tensor,
    w1: torch.Tensor,
    w2: torch.Tensor,
    w3: torch.Tensor,
) -> torch.Tensor:
    """`moe_experts_reference` without a loop over the experts (same arguments and result): the
    (token, expert) pairs sorted by expert, three grouped GEMMs, and the gate-weighted outputs
    added back to their tokens. The GEMMs are PyTorch's grouped matmul where it takes the tensors
    (`takes_grouped_mm`), else a padded batched matmul (`padded_matmul`). With fewer pairs than
    experts and small experts (decoding a sequence or two), each pair's weights are gathered
    instead and multiplied in one batched matmul per projection. Autograd differentiates all."""
    n_tokens, topk = ids.shape
    flat = ids.flatten()  # [N·k]
    if flat.numel() <= w1.shape[0] and 3 * flat.numel() * w1[0].numel() <= GATHER_LIMIT:
        h = x.repeat_interleave(topk, dim=0)[:, :, None]  # [N·k, d, 1]: each pair's token
        gate, up = (torch.bmm(w.index_select(0, flat), h) for w in (w1, w3))  # [N·k, I, 1] each
        y = torch.bmm(w2.index_select(0, flat), F.silu(gate) * up)  # [N·k, d, 1]
        return (y.view(n_tokens, topk, x.shape[1]) * weights[..., None]).sum(dim=1).to(x.dtype)  # [N, d]
    order = flat.argsort(stable=True)  # [N·k]: pairs sorted by expert
    counts = expert_counts(flat, w1.shape[0])  # [E]: pairs per expert
    if torch.compiler.is_compiling():  # the form a graph wants (`moe_experts` comes here only
        # when the grouped matmul takes x)
        return _compiled_pairs(x, weights, order, counts, w1, w2, w3)
    token = order // topk  # [N·k]: each sorted pair's token
    if takes_grouped_mm(x, w1.shape[1]):
        ends = counts.cumsum(0).to(torch.int32)  # [E]: each expert's last sorted pair + 1

        def matmul(h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
            return F.grouped_mm(h, w.transpose(1, 2), offs=ends)  # [N·k, in] -> [N·k, out]

    else:
        matmul = padded_matmul(counts)
    h = x.index_select(0, token)  # [N·k, d] (its backward adds rows, faster than indexing's)
    y = matmul(F.silu(matmul(h, w1)) * matmul(h, w3), w2)  # [N·k, d]
    y = y * weights.flatten().index_select(0, order)[:, None]  # gate weights g_{i,t}
    return torch.zeros_like(x).index_add_(0, token, y.to(x.dtype))  # [N, d]


def _compiled_pairs(
    x: torch.Tensor,
    weights: torch.Tensor,
    order: torch.Tensor,
    counts: torch.Tensor,
    w1: torch.Tensor,
    w2: torch.Tensor,
    w3: torch.Tensor,
) -> torch.Tensor:
    """`moe_experts_grouped`'s sorted pairs as a compiled graph wants them: the grouped matmul as
    the custom op it can trace (`grouped_mm.py`), and the pairs permuted into expert order and back
    by gathers alone, forward and backward (`PermuteRows`), since compiled code adds rows back into
    tokens slowly (in-process A/B, r1mini/kernels/PERF.md; eager keeps the adds, faster there).
    order: [N·k] pairs sorted by expert; counts: [E] pairs per expert. Returns [N, d]."""
    from r1mini.kernels.grouped_mm import grouped_mm  # imports torch's compiler: only when used

    n_tokens, topk = weights.shape
    ends = counts.cumsum(0).to(torch.int32)  # [E]: each expert's last sorted pair + 1

    def matmul(h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return grouped_mm(h, w.transpose(1, 2), ends)  # [N·k, in] -> [N·k, out]

    unsort = torch.empty_like(order).scatter_(0, order, torch.arange(order.numel(), device=order.device))
    pairs = x[:, None].expand(-1, topk, -1).reshape(-1, x.shape[1])  # [N·k, d]: each pair's token
    h = PermuteRows.apply(pairs, order, unsort)  # [N·k, d], sorted by expert
    y = matmul(F.silu(matmul(h, w1)) * matmul(h, w3), w2)  # [N·k, d]
    y = PermuteRows.apply(y, unsort, order).view(n_tokens, topk, -1)  # [N, k, d], in token order
    return (y * weights[..., None]).sum(dim=1).to(x.dtype)  # [N, d]: weighted by g_{i,t}


class PermuteRows(torch.autograd.Function):
    """`x[order]` for a permutation `order` of x's rows [M], whose gradient is the gather by the
    inverse permutation `unsort` [M] (autograd would add the rows back, as for any index)."""

    @staticmethod
    def forward(x: torch.Tensor, order: torch.Tensor, unsort: torch.Tensor) -> torch.Tensor:
        return x.index_select(0, order)  # [M, ...]

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        ctx.save_for_backward(inputs[2])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (unsort,) = ctx.saved_tensors
        return grad.index_select(0, unsort), None, None


def moe_experts_dense(
    x: torch.Tensor,
    ids: torch.Tensor,
    weights: torch.Tensor,
    w1: torch.Tensor,
    w2: torch.Tensor,
    w3: torch.Tensor,
) -> torch.Tensor:
    """`moe_experts_reference` (same arguments and result) with every expert applied to every token,
    each output weighted by the token's gate weight for that expert (0 where it was not chosen).

    E/k times the reference's FLOPs, but every shape follows from x's alone: nothing is counted,
    sorted or indexed by the routing, so the graph traced for one sequence length serves any
    (`torch.export` and ONNX export take this path: `backend.exporting()`)."""
    n_experts = w1.shape[0]
    mix = weights.new_zeros(x.shape[0], n_experts).scatter_add(1, ids, weights)  # [N, E]: g_{i,t}
    gate = torch.einsum("nd,eid->nei", x, w1)  # [N, E, I]
    up = torch.einsum("nd,eid->nei", x, w3)  # [N, E, I]
    y = torch.einsum("nei,edi->ned", F.silu(gate) * up, w2)  # [N, E, d]: every expert's output
    return torch.einsum("ne,ned->nd", mix.to(y.dtype), y).to(x.dtype)  # [N, d]


def moe_experts(
    x: torch.Tensor,
    ids: torch.Tensor,
    weights: torch.Tensor,
    w1: torch.Tensor,
    w2: torch.Tensor,
    w3: torch.Tensor,
) -> torch.Tensor:
    """`moe_experts_reference` through the chosen backend (same arguments and result); the dense
    form while the model is traced for export, or compiled where the grouped matmul cannot take
    the tensors (its padded stand-in has shapes that depend on the routing)."""
    if exporting():
        return moe_experts_dense(x, ids, weights, w1, w2, w3)
    if wants_triton(x):
        from r1mini.kernels.moe_experts_triton import moe_experts_triton

        return moe_experts_triton(x, ids, weights, w1, w2, w3)
    if torch.compiler.is_compiling() and not takes_grouped_mm(x, w1.shape[1]):
        return moe_experts_dense(x, ids, weights, w1, w2, w3)
    return moe_experts_grouped(x, ids, weights, w1, w2, w3)
