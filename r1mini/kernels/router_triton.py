"""Group-limited top-k expert choice in one Triton launch (V3 paper §2.1.2 eq. 13-16).

One program per token holds its E affinities as a [groups, experts per group] tile:
    1. add the correction bias b_i (it steers the choice only, §2.1.2);
    2. score each group by the sum of its two best biased affinities (the best one without a bias);
    3. keep the `n_limited_groups` best groups (repeated arg-max, the others set to -inf);
    4. pick the top-k experts among the kept ones (repeated arg-max).
Arg-max ties go to the lowest index. In PyTorch the same choice is about ten launches with
[N, G, E/G] intermediates; here it is one pass over [N, E].

What runs where: the affinities s = sigmoid/softmax(logits) and the gate weights (gather, normalise,
scale) stay in PyTorch, which makes the weights differentiable w.r.t. the logits through ordinary
autograd; the kernel only chooses the ids, which have no gradient. It reads the very `s` that the
weights are built from, so its ids equal `route_reference`'s bit for bit (same inputs, same sums).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from r1mini.config import ScoreFunc
from r1mini.kernels.checks import check_device, check_dtype, check_shape
from r1mini.kernels.router import gate_weights, scores_of


@triton.jit
def _choose_experts(
    s_ptr,
    bias_ptr,
    ids_ptr,
    n_experts,
    per_group,
    n_groups: tl.constexpr,
    n_keep: tl.constexpr,
    topk: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    BLOCK_G: tl.constexpr,
    BLOCK_J: tl.constexpr,
):
    token = tl.program_id(0)
    g = tl.arange(0, BLOCK_G)[:, None]  # [BLOCK_G, 1] group
    j = tl.arange(0, BLOCK_J)[None, :]  # [1, BLOCK_J] expert within the group
    expert = g * per_group + j  # [BLOCK_G, BLOCK_J] expert id
    real = (g < n_groups) & (j < per_group)
    neg_inf = float("-inf")
    s = tl.load(s_ptr + token * n_experts + expert, mask=real, other=neg_inf)  # [G, J]
    if HAS_BIAS:
        s += tl.load(bias_ptr + expert, mask=real, other=0.0)
    if n_groups > 1:
        best = tl.max(s, axis=1)  # [G] best biased affinity of each group
        if HAS_BIAS:
            first = tl.min(tl.where(s == best[:, None], j, BLOCK_J), axis=1)  # [G] its position
            second = tl.max(tl.where(j == first[:, None], neg_inf, s), axis=1)  # [G]
            group_score = best + second  # [G]
        else:
            group_score = best
        gid = tl.arange(0, BLOCK_G)  # [G]
        group_score = tl.where(gid < n_groups, group_score, neg_inf)
        keep = gid < 0  # [G] all False
        for _ in tl.static_range(n_keep):
            top = tl.max(group_score, axis=0)
            pick = tl.min(tl.where(group_score == top, gid, BLOCK_G), axis=0)
            keep = keep | (gid == pick)
            group_score = tl.where(gid == pick, neg_inf, group_score)
        s = tl.where(keep[:, None], s, neg_inf)
    big = BLOCK_G * BLOCK_J
    for slot in tl.static_range(topk):
        top = tl.max(tl.max(s, axis=1), axis=0)
        pick = tl.min(tl.min(tl.where(s == top, expert, big), axis=1), axis=0)  # lowest id on a tie
        tl.store(ids_ptr + token * topk + slot, pick.to(tl.int64))
        s = tl.where(expert == pick, neg_inf, s)


def launch_config(
    n_groups: int, per_group: int, n_limited_groups: int, topk: int, has_bias: bool
) -> dict[str, int | bool]:
    """Constexprs of `_choose_experts`: the routing sizes, and the [groups, per group] tile."""
    return dict(
        n_groups=n_groups,
        n_keep=n_limited_groups,
        topk=topk,
        HAS_BIAS=has_bias,
        BLOCK_G=triton.next_power_of_2(n_groups),
        BLOCK_J=triton.next_power_of_2(per_group),
    )


def route_triton(
    logits: torch.Tensor,
    bias: torch.Tensor | None,
    *,
    score_func: ScoreFunc,
    n_groups: int,
    n_limited_groups: int,
    topk: int,
    route_scale: float,
    norm_topk_prob: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`route_reference` with the expert choice in Triton; same arguments and results.

    logits: [N, E] fp32 (copied if not contiguous); bias: [E] fp32 or None.
    Returns weights [N, k] (differentiable), ids [N, k] int64, scores [N, E].
    """
    op = "route_triton"
    check_device(op, logits=logits, **({} if bias is None else {"bias": bias}))
    check_dtype(op, "logits", logits, (torch.float32,))
    check_shape(op, "logits", logits, (None, None))
    n_tokens, n_experts = logits.shape
    if bias is not None:
        check_dtype(op, "bias", bias, (torch.float32,))
        check_shape(op, "bias", bias, (n_experts,))
    if n_groups < 1 or n_experts % n_groups:
        raise ValueError(f"{op}: n_groups={n_groups} must be >= 1 and divide E={n_experts}")
    per_group = n_experts // n_groups
    if not 1 <= n_limited_groups <= n_groups:
        raise ValueError(f"{op}: n_limited_groups={n_limited_groups} must be in [1, {n_groups}]")
    if not 1 <= topk <= n_limited_groups * per_group:
        raise ValueError(
            f"{op}: topk={topk} must be in [1, n_limited_groups * E / n_groups = "
            f"{n_limited_groups * per_group}]"
        )
    if bias is not None and n_groups > 1 and per_group < 2:
        raise ValueError(f"{op}: with a bias each group needs >= 2 experts (E / n_groups = 1)")
    scores = scores_of(logits, score_func)  # [N, E], differentiable
    s = scores.detach().contiguous()  # [N, E]
    ids = torch.empty(n_tokens, topk, dtype=torch.int64, device=logits.device)  # [N, k]
    if n_tokens > 0:
        _choose_experts[(n_tokens,)](
            s,
            s if bias is None else bias.contiguous(),
            ids,
            n_experts,
            per_group,
            **launch_config(n_groups, per_group, n_limited_groups, topk, bias is not None),
        )
    weights = gate_weights(scores, ids, route_scale=route_scale, norm_topk_prob=norm_topk_prob)
    return weights, ids, scores
