"""The DeepSeekMoE router: affinity scores, correction bias, group-limited top-k, gate weights.

V3 paper §2.1.2, eq. 12-16 (sigmoid affinities, weights normalised over the chosen experts) and
§2.1.2 (the correction bias `b_i` steers *which* experts are chosen but never the gate weights).
Group-limited routing (node-limited routing in the paper; `n_group`/`topk_group` in the released
configs): experts are split into groups, each group is scored by the sum of its two best biased
affinities (V3; V2's softmax gate uses the group's best score), only the best `n_limited_groups`
groups stay eligible, and the top-k experts are picked inside them.
"""

from __future__ import annotations

import torch

from r1mini.config import ScoreFunc
from r1mini.kernels.backend import wants_triton


def scores_of(logits: torch.Tensor, score_func: ScoreFunc) -> torch.Tensor:
    """Affinities `s_{i,t}`: sigmoid (V3, eq. 15) or softmax over experts (V2). [N, E] -> [N, E]."""
    if score_func == "sigmoid":
        return logits.sigmoid()
    if score_func == "softmax":
        return logits.softmax(dim=-1)
    raise ValueError(f"score_func={score_func!r} is unknown; choose 'sigmoid' or 'softmax'")


def gate_weights(
    scores: torch.Tensor, ids: torch.Tensor, *, route_scale: float, norm_topk_prob: bool
) -> torch.Tensor:
    """Gate weights `g_{i,t}` of the chosen experts from the *unbiased* affinities (eq. 13).

    scores: [N, E], ids: [N, k] -> [N, k], normalised to sum to one (if asked) and scaled.
    """
    weights = scores.gather(1, ids)  # [N, k]
    if norm_topk_prob:
        weights = weights / (weights.sum(dim=-1, keepdim=True) + 1e-20)
    return weights * route_scale


def route_reference(
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
    """Route tokens to experts.

    Args:
        logits: [N, E] fp32 router logits `u_t · e_i`.
        bias: [E] correction bias, or None (no bias: V2 and softmax gates).
    Returns:
        weights: [N, k] gate weights `g_{i,t}` (differentiable w.r.t. `logits`).
        ids: [N, k] chosen expert ids (int64).
        scores: [N, E] affinities `s_{i,t}` (without the bias).
    """
    n_tokens, n_experts = logits.shape
    scores = scores_of(logits, score_func)  # [N, E]
    choice = scores if bias is None else scores + bias  # [N, E], biased only for the choice
    if n_groups > 1:
        grouped = choice.view(n_tokens, n_groups, n_experts // n_groups)  # [N, G, E/G]
        if bias is None:
            group_scores = grouped.amax(dim=-1)  # [N, G]
        else:
            group_scores = grouped.topk(2, dim=-1).values.sum(dim=-1)  # [N, G]
        kept = group_scores.topk(n_limited_groups, dim=-1).indices  # [N, M]
        dropped = torch.ones_like(group_scores, dtype=torch.bool).scatter_(1, kept, False)  # [N, G]
        choice = grouped.masked_fill(dropped[..., None], float("-inf")).view(n_tokens, n_experts)
    ids = choice.topk(topk, dim=-1).indices  # [N, k]
    weights = gate_weights(scores, ids, route_scale=route_scale, norm_topk_prob=norm_topk_prob)
    return weights, ids, scores


def route(
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
    """`route_reference` through the chosen backend (same arguments and results)."""
    kwargs = dict(
        score_func=score_func,
        n_groups=n_groups,
        n_limited_groups=n_limited_groups,
        topk=topk,
        route_scale=route_scale,
        norm_topk_prob=norm_topk_prob,
    )
    if wants_triton(logits):
        from r1mini.kernels.router_triton import route_triton

        return route_triton(logits, bias, **kwargs)
    return route_reference(logits, bias, **kwargs)
