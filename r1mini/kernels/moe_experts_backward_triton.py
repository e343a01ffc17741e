"""Backward of the routed SwiGLU experts (V3 paper §2.1.2, eq. 12) as grouped GEMMs over the same
sorted, padded layout as the forward (`moe_experts_launch.align_by_expert`).

Per (token, slot) pair p routed to expert e, with gate weight g_p and the output gradient dy_p of its
token, the forward computed a = x·w1[e]ᵀ, b = x·w3[e]ᵀ, h = silu(a)·b and y_p = g_p · h·w2[e]ᵀ.
The gradients, with s = sigmoid(a):

    dh_raw = dy_p · w2[e]                  dg_p = Σ_i h_i · dh_raw_i           (gate weight)
    dh = g_p · dh_raw                      da = dh · b · s · (1 + a·(1 − s))   (silu' = s + a·s·(1−s))
                                           db = dh · silu(a)
    dx_p = da · w1[e] + db · w3[e]         dx[token] = Σ_slots dx_p
    dw1[e] = Σ_{p∈e} da_pᵀ x_p    dw3[e] = Σ_{p∈e} db_pᵀ x_p    dw2[e] = Σ_{p∈e} dy_pᵀ (g_p h_p)

Three kernels, all reading rows of the sorted layout (one expert per block of BLOCK_M rows):

    _swiglu_bwd   recomputes a and b and computes dh_raw in one pass over d (three accumulators),
                  then writes da, db, g·h [P_pad, I] and dg's partial sums per column tile;
    _dx           dx_p = da·w1[e] + db·w3[e], one pass over I, written to the pair's own row;
    _expert_grad  C[e] = A[rows of e]ᵀ · B[rows of e], one program per (expert, tile of C), walking
                  that expert's rows: dw1 = (da, x), dw3 = (db, x), dw2 = (dy, g·h).

x and dy are gathered into the sorted order once (`xs`, `dys`, zero on padding rows), so every
kernel reads plain rows and padding rows contribute exact zeros. The combine over a token's slots
(dx) and the scatter of dg back to the pairs are small torch ops, as in the forward.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from r1mini.kernels.checks import dot_in_fp32, dot_tile
from r1mini.kernels.moe_tiles_triton import _block_rows


@triton.jit
def _swiglu_bwd(
    xs_ptr,
    dys_ptr,
    w1_ptr,
    w2_ptr,
    w3_ptr,
    gate_ptr,
    block_expert_ptr,
    da_ptr,
    db_ptr,
    hg_ptr,
    dg_part_ptr,
    d,
    inter,
    n_col_tiles,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    DOT_FP32: tl.constexpr,
):
    block = tl.program_id(0)
    expert = tl.load(block_expert_ptr + block).to(tl.int64)
    if expert < 0:
        return
    tile = tl.program_id(1)
    rows = block * BLOCK_M + tl.arange(0, BLOCK_M)  # [BM] rows of the sorted layout
    cols = tile * BLOCK_N + tl.arange(0, BLOCK_N)  # [BN] hidden units
    ks = tl.arange(0, BLOCK_K)  # [BK]
    row_base = rows[:, None].to(tl.int64) * d  # [BM, 1]
    acc_a = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    acc_b = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    acc_dh = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, d, BLOCK_K):
        kk = k0 + ks  # [BK]
        k_ok = kk[None, :] < d  # [1, BK]
        x = tl.load(xs_ptr + row_base + kk[None, :], mask=k_ok, other=0.0)  # [BM, BK]
        dy = tl.load(dys_ptr + row_base + kk[None, :], mask=k_ok, other=0.0)  # [BM, BK]
        w_mask = (cols[None, :] < inter) & (kk[:, None] < d)  # [BK, BN]
        w13_off = expert * inter * d + cols[None, :] * d + kk[:, None]  # w1[e]ᵀ, w3[e]ᵀ tiles
        w1 = tl.load(w1_ptr + w13_off, mask=w_mask, other=0.0)  # [BK, BN]
        w3 = tl.load(w3_ptr + w13_off, mask=w_mask, other=0.0)  # [BK, BN]
        w2 = tl.load(
            w2_ptr + expert * d * inter + kk[:, None] * inter + cols[None, :], mask=w_mask, other=0.0
        )  # [BK, BN] tile of w2[e]
        if DOT_FP32:
            x, dy = x.to(tl.float32), dy.to(tl.float32)
            w1, w2, w3 = w1.to(tl.float32), w2.to(tl.float32), w3.to(tl.float32)
        acc_a = tl.dot(x, w1, acc_a)
        acc_b = tl.dot(x, w3, acc_b)
        acc_dh = tl.dot(dy, w2, acc_dh)
    g = tl.load(gate_ptr + rows)  # [BM] fp32, 0 on padding rows
    s = tl.sigmoid(acc_a)
    silu = acc_a * s
    h = silu * acc_b  # [BM, BN]
    dh = acc_dh * g[:, None]
    da = dh * acc_b * s * (1.0 + acc_a * (1.0 - s))
    db = dh * silu
    out_off = rows[:, None].to(tl.int64) * inter + cols[None, :]  # [BM, BN]
    col_ok = cols[None, :] < inter
    tl.store(da_ptr + out_off, da.to(da_ptr.dtype.element_ty), mask=col_ok)
    tl.store(db_ptr + out_off, db.to(db_ptr.dtype.element_ty), mask=col_ok)
    tl.store(hg_ptr + out_off, (h * g[:, None]).to(hg_ptr.dtype.element_ty), mask=col_ok)
    dg = tl.sum(tl.where(col_ok, h * acc_dh, 0.0), axis=1)  # [BM] this tile's share of dg
    tl.store(dg_part_ptr + rows.to(tl.int64) * n_col_tiles + tile, dg)


@triton.jit
def _dx(
    da_ptr,
    db_ptr,
    w1_ptr,
    w3_ptr,
    dx_ptr,
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
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)  # [BN] input channels
    ks = tl.arange(0, BLOCK_K)  # [BK]
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, inter, BLOCK_K):
        kk = k0 + ks  # [BK] hidden units
        h_off = rows[:, None].to(tl.int64) * inter + kk[None, :]  # [BM, BK]
        da = tl.load(da_ptr + h_off, mask=kk[None, :] < inter, other=0.0)  # [BM, BK]
        db = tl.load(db_ptr + h_off, mask=kk[None, :] < inter, other=0.0)  # [BM, BK]
        w_off = expert * inter * d + kk[:, None] * d + cols[None, :]  # [BK, BN] tile of w[e]
        w_mask = (kk[:, None] < inter) & (cols[None, :] < d)
        w1 = tl.load(w1_ptr + w_off, mask=w_mask, other=0.0)
        w3 = tl.load(w3_ptr + w_off, mask=w_mask, other=0.0)
        if DOT_FP32:
            da, db, w1, w3 = da.to(tl.float32), db.to(tl.float32), w1.to(tl.float32), w3.to(tl.float32)
        acc = tl.dot(da, w1, acc)
        acc = tl.dot(db, w3, acc)
    tl.store(
        dx_ptr + pair[:, None] * d + cols[None, :],
        acc.to(dx_ptr.dtype.element_ty),
        mask=valid[:, None] & (cols[None, :] < d),
    )


@triton.jit
def _expert_grad(
    a_ptr,
    b_ptr,
    c_ptr,
    row_start_ptr,
    M,
    K,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_R: tl.constexpr,
    DOT_FP32: tl.constexpr,
):
    expert = tl.program_id(0).to(tl.int64)
    ms = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)  # [BM] rows of C[e] (columns of A)
    ns = tl.program_id(2) * BLOCK_N + tl.arange(0, BLOCK_N)  # [BN] columns of C[e] (of B)
    rs = tl.arange(0, BLOCK_R)  # [BR]
    start = tl.load(row_start_ptr + expert)
    end = tl.load(row_start_ptr + expert + 1)
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for r0 in range(start, end, BLOCK_R):
        r = (r0 + rs).to(tl.int64)  # [BR] rows of this expert (padding rows are zero)
        at = tl.load(a_ptr + r[None, :] * M + ms[:, None], mask=ms[:, None] < M, other=0.0)  # [BM, BR]
        b = tl.load(b_ptr + r[:, None] * K + ns[None, :], mask=ns[None, :] < K, other=0.0)  # [BR, BN]
        if DOT_FP32:
            at, b = at.to(tl.float32), b.to(tl.float32)
        acc = tl.dot(at, b, acc)
    c_off = expert * M * K + ms[:, None].to(tl.int64) * K + ns[None, :]
    tl.store(c_ptr + c_off, acc.to(c_ptr.dtype.element_ty), mask=(ms[:, None] < M) & (ns[None, :] < K))


def backward_config(
    block_m: int, d: int, inter: int, dtype: torch.dtype, interpret: bool
) -> dict[str, dict[str, int | bool]]:
    """Tiles of the three backward launches for the forward's `block_m` (rows per expert block).

    `_swiglu_bwd` holds three [BLOCK_M, BLOCK_N] fp32 accumulators, so its tiles are capped at
    64 x 64 on a GPU (128 x 128 when interpreting: fewer programs). `_expert_grad` reduces over
    BLOCK_R rows at a time, a divisor of `block_m`, so a step never spans two experts; its output
    tiles (`grad_tiles`) come from the shape of each weight gradient.
    """
    shared = {"DOT_FP32": dot_in_fp32(dtype, interpret=interpret)}
    cap = 128 if interpret else 64
    swiglu = {"BLOCK_M": block_m, "BLOCK_N": dot_tile(inter, cap), "BLOCK_K": dot_tile(d, cap)}
    dx = {"BLOCK_M": block_m, "BLOCK_N": dot_tile(d, 2 * cap), "BLOCK_K": dot_tile(inter, cap)}
    grad = {"BLOCK_R": min(block_m, 32), "CAP": 2 * cap}
    return {"swiglu": {**swiglu, **shared}, "dx": {**dx, **shared}, "grad": {**grad, **shared}}


def grad_tiles(m: int, k: int, grad: dict) -> dict[str, int | bool]:
    """The constexprs of one `_expert_grad` launch computing [E, m, k]."""
    tiles = {"BLOCK_M": dot_tile(m, grad["CAP"]), "BLOCK_N": dot_tile(k, grad["CAP"])}
    return {**tiles, "BLOCK_R": grad["BLOCK_R"], "DOT_FP32": grad["DOT_FP32"]}


def _gather_rows(t: torch.Tensor, index: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """t[index] for the valid rows of the sorted layout, zero rows elsewhere: [P_pad, width]."""
    out = torch.zeros(index.numel(), t.shape[1], dtype=t.dtype, device=t.device)
    out[valid] = t[index[valid]]
    return out


def _expert_grad_launch(
    a: torch.Tensor, b: torch.Tensor, row_start: torch.Tensor, out_dtype: torch.dtype, config: dict
) -> torch.Tensor:
    """C[e] = A[rows of e]ᵀ · B[rows of e]: a [P_pad, M], b [P_pad, K] -> [E, M, K]."""
    (m, k), n_experts = (a.shape[1], b.shape[1]), row_start.numel() - 1
    c = torch.empty(n_experts, m, k, dtype=out_dtype, device=a.device)
    tiles = grad_tiles(m, k, config)
    grid = (n_experts, triton.cdiv(m, tiles["BLOCK_M"]), triton.cdiv(k, tiles["BLOCK_N"]))
    _expert_grad[grid](a, b, c, row_start, m, k, **tiles)
    return c


def grouped_swiglu_backward(
    dout: torch.Tensor,
    x: torch.Tensor,
    ids: torch.Tensor,
    weights: torch.Tensor,
    w1: torch.Tensor,
    w2: torch.Tensor,
    w3: torch.Tensor,
    sorted_pairs: torch.Tensor,
    block_expert: torch.Tensor,
    block_m: int,
    needs: tuple[bool, bool, bool, bool, bool],
    interpret: bool,
) -> tuple[torch.Tensor | None, ...]:
    """Gradients (dx, dweights, dw1, dw2, dw3) of `moe_experts` for the output gradient `dout`.

    dout, x: [N, d]; ids, weights: [N, k]; w1, w3: [E, I, d]; w2: [E, d, I]; the sorted layout of
    the forward (`sorted_pairs` [P_pad], `block_expert` [n_blocks], `block_m` rows per block).
    `needs`: which of the five gradients to compute (None for the others). Contiguous inputs.
    """
    (n_tokens, d), (n_experts, inter, _) = x.shape, w1.shape
    topk = ids.shape[1]
    n_pairs = n_tokens * topk
    config = backward_config(block_m, d, inter, x.dtype, interpret)
    valid = sorted_pairs < n_pairs  # [P_pad]
    token = torch.where(valid, sorted_pairs // topk, 0)  # [P_pad]
    xs = _gather_rows(x, token, valid)  # [P_pad, d]
    dys = _gather_rows(dout.to(x.dtype).contiguous(), token, valid)  # [P_pad, d]
    gates = torch.zeros(sorted_pairs.numel(), dtype=torch.float32, device=x.device)  # [P_pad]
    gates[valid] = weights.detach().float().flatten()[sorted_pairs[valid]]
    n_blocks, sw = block_expert.numel(), config["swiglu"]
    n_col_tiles = triton.cdiv(inter, sw["BLOCK_N"])
    da, db, hg = (torch.empty(sorted_pairs.numel(), inter, dtype=x.dtype, device=x.device) for _ in range(3))
    dg_part = torch.zeros(sorted_pairs.numel(), n_col_tiles, dtype=torch.float32, device=x.device)
    _swiglu_bwd[(n_blocks, n_col_tiles)](
        xs, dys, w1, w2, w3, gates, block_expert, da, db, hg, dg_part, d, inter, n_col_tiles, **sw
    )
    dx = dweights = dw1 = dw2 = dw3 = None
    need_x, need_g, need_w1, need_w2, need_w3 = needs
    if need_x:
        dx_pairs = torch.empty(n_pairs, d, dtype=x.dtype, device=x.device)  # [P, d]
        _dx[(n_blocks, triton.cdiv(d, config["dx"]["BLOCK_N"]))](
            da, db, w1, w3, dx_pairs, sorted_pairs, block_expert, n_pairs, d, inter, **config["dx"]
        )
        dx = dx_pairs.view(n_tokens, topk, d).sum(1, dtype=torch.float32).to(x.dtype)  # [N, d]
    if need_g:
        dg = torch.zeros(n_pairs, dtype=torch.float32, device=x.device)  # [P]
        dg[sorted_pairs[valid]] = dg_part.sum(1)[valid]
        dweights = dg.view(n_tokens, topk).to(weights.dtype)
    if need_w1 or need_w2 or need_w3:
        # the first sorted row of each expert's run, [E + 1]: runs are whole blocks, in expert order
        counts = torch.bincount(block_expert[block_expert >= 0], minlength=n_experts)  # blocks per expert
        row_start = torch.zeros(n_experts + 1, dtype=torch.int64, device=x.device)
        row_start[1:] = counts.cumsum(0) * block_m
        grad = config["grad"]
        dw1 = _expert_grad_launch(da, xs, row_start, w1.dtype, grad) if need_w1 else None
        dw3 = _expert_grad_launch(db, xs, row_start, w3.dtype, grad) if need_w3 else None
        dw2 = _expert_grad_launch(dys, hg, row_start, w2.dtype, grad) if need_w2 else None
    return dx, dweights, dw1, dw2, dw3
