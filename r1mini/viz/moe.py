"""Chapter 03 figures: which expert each token goes to (V3 paper §2.1.2, eq. 12-16), group-limited
routing (node-limited routing, §2.1.2), and auxiliary-loss-free load balancing (§2.1.2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch

from r1mini.config import ModelConfig
from r1mini.viz.style import HEATMAP_SCALE, OKABE_ITO, styled


def routing_matrix(record: Mapping[str, torch.Tensor], n_experts: int) -> torch.Tensor:
    """[T, E] gate weight of each (token, expert), 0 where the expert was not chosen, for batch 0."""
    ids, weights = record["ids"], record["weights"]
    if ids.dim() == 3:
        ids, weights = ids[0], weights[0]  # [T, k]
    out = torch.zeros(ids.shape[0], n_experts)
    return out.scatter_(1, ids.cpu(), weights.float().cpu())


def routing_heatmap(
    record: Mapping[str, torch.Tensor], tokens: Sequence[str], config: ModelConfig, layer: int
) -> go.Figure:
    """Token → expert heatmap of one recorded routing (`records[layer]["routing"][0]`)."""
    z = routing_matrix(record, config.n_routed_experts).numpy()  # [T, E]
    scores = record["scores"]
    scores = (scores[0] if scores.dim() == 3 else scores).float().cpu().numpy()  # [T, E]
    labels = [f"{i}:{t!r}" for i, t in enumerate(tokens)]
    experts = [f"e{e} (g{e // config.experts_per_group})" for e in range(config.n_routed_experts)]
    hover = [
        [
            f"token {labels[t]}<br>expert {experts[e]}<br>affinity s = {scores[t, e]:.3f}<br>"
            + (f"chosen, gate weight g = {z[t, e]:.3f}" if z[t, e] else "not chosen")
            for e in range(z.shape[1])
        ]
        for t in range(z.shape[0])
    ]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=experts,
            y=labels,
            colorscale=HEATMAP_SCALE,
            zmin=0,
            colorbar=dict(title="gate weight"),
            text=hover,
            hovertemplate="%{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return styled(
        fig,
        f"layer {layer}: each token's top-{config.n_activated_experts} routed experts",
        "routed expert (group)",
        "token (position: character)",
    )


def group_routing_figure(
    record: Mapping[str, torch.Tensor], config: ModelConfig, token: int, label: str = ""
) -> go.Figure:
    """One token's biased affinities per expert, coloured by group; a group's score is the sum
    of its two best affinities, only the best `n_limited_groups` groups may be chosen from, and
    the chosen experts are outlined."""
    biased = record["biased_scores"]
    ids = record["ids"]
    if biased.dim() == 3:
        biased, ids = biased[0], ids[0]
    s = biased[token].float().cpu()  # [E]
    per_group = config.experts_per_group
    grouped = s.view(config.n_expert_groups, per_group)  # [G, E/G]
    group_scores = grouped.topk(min(2, per_group), dim=-1).values.sum(-1)  # [G]
    kept = set(group_scores.topk(config.n_limited_groups).indices.tolist())
    chosen = set(ids[token].tolist())
    fig = go.Figure()
    for g in range(config.n_expert_groups):
        experts = list(range(g * per_group, (g + 1) * per_group))
        state = "kept" if g in kept else "dropped"
        fig.add_bar(
            x=[f"e{e}" for e in experts],
            y=[float(s[e]) for e in experts],
            name=f"group {g} ({state}, score {float(group_scores[g]):.2f})",
            marker=dict(
                color=OKABE_ITO[g % len(OKABE_ITO)],
                opacity=1.0 if g in kept else 0.3,
                line=dict(color="black", width=[4 if e in chosen else 0 for e in experts]),
            ),
            customdata=[["chosen" if e in chosen else "not chosen"] for e in experts],
            hovertemplate=(
                f"expert %{{x}}, group {g} ({state})<br>biased affinity %{{y:.3f}}<br>"
                "%{customdata[0]}<extra></extra>"
            ),
        )
    return styled(
        fig,
        f"token {label or token}: {config.n_limited_groups} of {config.n_expert_groups} groups kept, "
        f"top-{config.n_activated_experts} experts chosen (outlined)",
        "routed expert",
        "affinity + bias (s + b)",
    )


def imbalance(loads: torch.Tensor) -> torch.Tensor:
    """max/mean expert load per row of loads [..., E] (1 = perfectly balanced)."""
    loads = loads.float()
    return loads.amax(-1) / loads.mean(-1)


def load_balance_figure(runs: Mapping[str, torch.Tensor]) -> go.Figure:
    """Expert-load imbalance (max/mean) over training steps; runs: name -> loads [steps, E]."""
    fig = go.Figure()
    for (name, loads), color in zip(runs.items(), OKABE_ITO, strict=False):
        ratio = imbalance(loads).numpy()
        fig.add_scatter(
            x=list(range(1, len(ratio) + 1)),
            y=ratio,
            name=name,
            mode="lines",
            line=dict(color=color, width=3),
            hovertemplate=f"{name}<br>step %{{x}}: max/mean load %{{y:.2f}}<extra></extra>",
        )
    fig.add_hline(y=1.0, line_dash="dot", annotation_text="perfect balance")
    return styled(
        fig, "Expert-load imbalance during bias balancing", "step", "max / mean expert load (ratio)"
    )


def expert_load_bars(loads: torch.Tensor, steps: Sequence[int], name: str = "") -> go.Figure:
    """Tokens each expert received at a few steps; loads [steps, E]."""
    fig = go.Figure()
    experts = [f"e{e}" for e in range(loads.shape[1])]
    for step, color in zip(steps, OKABE_ITO, strict=False):
        fig.add_bar(
            x=experts,
            y=loads[step].tolist(),
            name=f"step {step + 1}",
            marker_color=color,
            hovertemplate=f"step {step + 1}<br>expert %{{x}}: %{{y:,.0f}} tokens<extra></extra>",
        )
    fig.add_hline(y=float(loads[0].mean()), line_dash="dot", annotation_text="mean load")
    return styled(fig, f"Tokens per expert {name}".strip(), "routed expert", "tokens routed (count per step)")
