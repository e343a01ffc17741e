"""Routed SwiGLU experts as two grouped GEMMs over tokens sorted by expert (V3 paper §2.1.2, eq.
12).

Every token sends its hidden state to k experts, so the work is P = N·k (token, slot) pairs, each a
SwiGLU with its expert's weights. Looping over experts (the reference) launches 3·E small GEMMs;
here the pairs are sorted by expert and each expert's run is padded to a multiple of BLOCK_M rows
(vLLM's `moe_align_block_size`, DeepGEMM's "contiguous" grouped layout). Every block of BLOCK_M rows
then belongs to exactly one expert, and one launch multiplies all blocks, each with its own weights:

    launch 1 (gate/up)  h[r]  = silu(x[token(r)] · w1[e]ᵀ) * (x[token(r)] · w3[e]ᵀ)   [P_pad, I]
    launch 2 (down)     y[p]  = g_p · (h[r] · w2[e]ᵀ)                                 [P, d]
    combine (torch)     out[t] = Σ_slot y[t, slot]                                    [N, d]

The two launches are not fused: the down projection needs the whole hidden row h[r] (all I columns)
that launch 1 spreads over several programs; writing h once in sorted order costs P·I elements,
small next to the weights each block reads. Launch 2 writes each pair's gated output to its own row,
so the combine is a plain sum over the k slots, with no atomics and a deterministic result.

Backward: `moe_experts_backward_triton`, three grouped-GEMM kernels over the same sorted layout
(saved by the forward): the SwiGLU gradients, dx, and the per-expert weight gradients.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from r1mini.kernels.checks import (
    FLOATS,
    check_device,
    check_dtype,
    check_shape,
    interpreting,
)
from r1mini.kernels.moe_experts_backward_triton import grouped_swiglu_backward
from r1mini.kernels.moe_experts_launch import align_by_expert, candidates, launch_config
from r1mini.kernels.moe_tiles_triton import _block_rows
from r1mini.kernels.tuning import TUNER


@triton.jit
def _gate_up(
    x_ptr,
    w1_ptr,
    w3_ptr,
    h_ptr,
    pairs_ptr,
    block_expert_ptr,
    n_pairs,
    topk,
    d,
    inter,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    DOT_FP32: tl.constexpr,
):
    expert, rows, pair, valid = _block_rows(block_expert_ptr, pairs_ptr, n_pairs, BLOCK_M)  # [BM] rows
    if expert < 0:
        return
    token = pair // topk  # [BM]
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)  # [BN] hidden units
    ks = tl.arange(0, BLOCK_K)  # [BK]
    w_base = expert * inter * d
    acc1 = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    acc3 = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, d, BLOCK_K):
        kk = k0 + ks  # [BK]
        x_mask = valid[:, None] & (kk[None, :] < d)
        x = tl.load(x_ptr + token[:, None] * d + kk[None, :], mask=x_mask, other=0.0)  # [BM, BK]
        w_off = w_base + cols[None, :] * d + kk[:, None]  # [BK, BN]: w[e]ᵀ tile
        w_mask = (cols[None, :] < inter) & (kk[:, None] < d)
        w1 = tl.load(w1_ptr + w_off, mask=w_mask, other=0.0)  # [BK, BN]
        w3 = tl.load(w3_ptr + w_off, mask=w_mask, other=0.0)  # [BK, BN]
        if DOT_FP32:
            x, w1, w3 = x.to(tl.float32), w1.to(tl.float32), w3.to(tl.float32)
        acc1 = tl.dot(x, w1, acc1)
        acc3 = tl.dot(x, w3, acc3)
    h = acc1 * tl.sigmoid(acc1) * acc3  # [BM, BN] SwiGLU
    h_off = rows[:, None].to(tl.int64) * inter + cols[None, :]  # [BM, BN], padding rows included
    tl.store(h_ptr + h_off, h.to(h_ptr.dtype.element_ty), mask=cols[None, :] < inter)


@triton.jit
def _down(
    h_ptr,
    w2_ptr,
    y_ptr,
    gate_ptr,
    pairs_ptr,
    block_expert_ptr,
    n_pairs,
    d,
    inter,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    DOT_FP32: tl.constexpr,
):
    expert, rows, pair, valid = _block_rows(block_expert_ptr, pairs_ptr, n_pairs, BLOCK_M)  # [BM] rows
    if expert < 0:
        return
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)  # [BN] output channels
    ks = tl.arange(0, BLOCK_K)  # [BK]
    w_base = expert * d * inter
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, inter, BLOCK_K):
        kk = k0 + ks  # [BK]
        h = tl.load(
            h_ptr + rows[:, None].to(tl.int64) * inter + kk[None, :], mask=kk[None, :] < inter, other=0.0
        )  # [BM, BK]
        w_mask = (cols[None, :] < d) & (kk[:, None] < inter)
        w2 = tl.load(w2_ptr + w_base + cols[None, :] * inter + kk[:, None], mask=w_mask, other=0.0)
        if DOT_FP32:
            h, w2 = h.to(tl.float32), w2.to(tl.float32)
        acc = tl.dot(h, w2, acc)  # [BM, BN]
    gate = tl.load(gate_ptr + pair, mask=valid, other=0.0)  # [BM] fp32 gate weight g_p
    y = acc * gate[:, None]
    tl.store(
        y_ptr + pair[:, None] * d + cols[None, :],
        y.to(y_ptr.dtype.element_ty),
        mask=valid[:, None] & (cols[None, :] < d),
    )


def _launch(
    x: torch.Tensor,
    ids: torch.Tensor,
    weights: torch.Tensor,
    w1: torch.Tensor,
    w2: torch.Tensor,
    w3: torch.Tensor,
    config: dict,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sort, the two launches and the combine, with one config; inputs checked and contiguous.
    Returns the output [N, d] and the sorted layout (`align_by_expert`), which backward reuses."""
    (n_tokens, d), (n_experts, inter, _) = x.shape, w1.shape
    topk = ids.shape[1]
    n_pairs = n_tokens * topk
    sorted_pairs, block_expert = align_by_expert(ids, n_experts, config["block_m"])
    n_blocks = block_expert.numel()
    h = torch.empty(sorted_pairs.numel(), inter, dtype=x.dtype, device=x.device)  # [P_pad, I]
    up, down = config["gate_up"], config["down"]
    _gate_up[(n_blocks, triton.cdiv(inter, up["BLOCK_N"]))](
        x, w1, w3, h, sorted_pairs, block_expert, n_pairs, topk, d, inter, **up
    )
    y = torch.empty(n_pairs, d, dtype=x.dtype, device=x.device)  # [P, d]
    gates = weights.detach().float().contiguous()  # [N, k] -> read as [P]
    _down[(n_blocks, triton.cdiv(d, down["BLOCK_N"]))](
        h, w2, y, gates, sorted_pairs, block_expert, n_pairs, d, inter, **down
    )
    out = y.view(n_tokens, topk, d).sum(1, dtype=torch.float32).to(x.dtype)  # [N, d]
    return out, sorted_pairs, block_expert


def _grouped_swiglu(
    x: torch.Tensor,
    ids: torch.Tensor,
    weights: torch.Tensor,
    w1: torch.Tensor,
    w2: torch.Tensor,
    w3: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """`_launch` with the config `TUNER` picks for this shape class; also returns the sorted
    layout and its rows per block, for the backward."""
    (n_tokens, d), (n_experts, inter, _) = x.shape, w1.shape
    n_pairs = n_tokens * ids.shape[1]
    shape = (n_pairs, n_experts, d, inter, x.dtype, interpreting())
    key = (triton.next_power_of_2(n_pairs), *shape[1:])
    chosen = TUNER.pick(
        "moe_experts",
        key,
        candidates(*shape),
        lambda o: _launch(x, ids, weights, w1, w2, w3, launch_config(*shape, **o)),
    )
    config = launch_config(*shape, **chosen)
    return *_launch(x, ids, weights, w1, w2, w3, config), config["block_m"]


class _MoEExperts(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, ids, weights, w1, w2, w3):
        out, sorted_pairs, block_expert, block_m = _grouped_swiglu(x, ids, weights, w1, w2, w3)
        ctx.save_for_backward(x, ids, weights, w1, w2, w3, sorted_pairs, block_expert)
        ctx.block_m = block_m
        return out

    @staticmethod
    def backward(ctx, dout: torch.Tensor):
        x, ids, weights, w1, w2, w3, sorted_pairs, block_expert = ctx.saved_tensors
        needs = ctx.needs_input_grad  # (x, ids, weights, w1, w2, w3)
        dx, dweights, dw1, dw2, dw3 = grouped_swiglu_backward(
            dout.contiguous(),
            x,
            ids,
            weights,
            w1,
            w2,
            w3,
            sorted_pairs,
            block_expert,
            ctx.block_m,
            needs=(needs[0], needs[2], needs[3], needs[4], needs[5]),
            interpret=interpreting(),
        )
        return dx, None, dweights, dw1, dw2, dw3


def moe_experts_triton(
    x: torch.Tensor,
    ids: torch.Tensor,
    weights: torch.Tensor,
    w1: torch.Tensor,
    w2: torch.Tensor,
    w3: torch.Tensor,
) -> torch.Tensor:
    """`moe_experts_reference` as two grouped-GEMM launches; same arguments and result.

    x: [N, d]; ids: [N, k] int in [0, E); weights: [N, k]; w1, w3: [E, I, d]; w2: [E, d, I];
    x and the expert weights share one float dtype. Non-contiguous inputs are copied.
    Differentiable: the backward is grouped GEMMs too (`moe_experts_backward_triton`).
    """
    op = "moe_experts_triton"
    check_device(op, x=x, ids=ids, weights=weights, w1=w1, w2=w2, w3=w3)
    check_dtype(op, "x", x, FLOATS)
    for name, w in (("w1", w1), ("w2", w2), ("w3", w3)):
        check_dtype(op, name, w, (x.dtype,))
    check_dtype(op, "ids", ids, (torch.int64, torch.int32))
    check_dtype(op, "weights", weights, FLOATS)
    check_shape(op, "x", x, (None, None))
    n_tokens, d = x.shape
    check_shape(op, "w1", w1, (None, None, d))
    n_experts, inter, _ = w1.shape
    check_shape(op, "w3", w3, (n_experts, inter, d))
    check_shape(op, "w2", w2, (n_experts, d, inter))
    check_shape(op, "ids", ids, (n_tokens, None))
    check_shape(op, "weights", weights, tuple(ids.shape))
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= n_experts):
        raise ValueError(
            f"{op}: ids must lie in [0, E={n_experts}); got [{int(ids.min())}, {int(ids.max())}]"
        )
    if ids.numel() == 0:
        return torch.zeros_like(x)
    args = (x, ids.long(), weights, w1, w2, w3)
    return _MoEExperts.apply(*(t.contiguous() for t in args))
