"""Chapter 03 figures: which expert each token goes to (V3 paper §2.1.2, eq. 12-16), group-limited
routing (node-limited routing, §2.1.2), and auxiliary-loss-free load balancing (§2.1.2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

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


def role_routing_figure(order: Sequence[str], counts: torch.Tensor, title: str) -> go.Figure:
    """Heatmap: for each token role (rows), the share of its expert choices that went to each routed
    expert (columns); counts: [R, E] from `probes.role_expert_counts`. The column labels carry each
    expert's purity, the share of its tokens that have its most common role."""
    shares = counts / counts.sum(1, keepdim=True).clamp(min=1)  # [R, E], rows sum to 1
    totals = counts.sum(0)  # [E]
    experts = []
    for e in range(counts.shape[1]):
        top = order[int(counts[:, e].argmax())] if totals[e] else "-"
        purity = float(counts[:, e].max() / totals[e]) if totals[e] else float("nan")
        experts.append(f"e{e}: {purity:.0%} {top}")
    hover = [
        [
            f"{order[r]} → expert {e}<br>{shares[r, e]:.1%} of this role's choices "
            f"({counts[r, e]:,.0f} of {counts[r].sum():,.0f})"
            for e in range(counts.shape[1])
        ]
        for r in range(len(order))
    ]
    fig = go.Figure(
        go.Heatmap(
            z=shares.numpy(),
            x=experts,
            y=[f"{role} ({counts[r].sum() / counts.sum():.0%})" for r, role in enumerate(order)],
            colorscale=HEATMAP_SCALE,
            zmin=0,
            zmax=1,
            colorbar=dict(title="share of the<br>role's choices"),
            text=hover,
            hovertemplate="%{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return styled(
        fig,
        title,
        "routed expert: purity (share of its tokens with its top role), top role",
        "token role (share of all tokens)",
    )


SPECIALISATION_PANELS = {
    "character": "I(character; expert)",
    "role": "I(role; expert)",
    "role_given_character": "I(role; expert | character)",
}


def specialisation_figure(scores: Mapping[str, Mapping[int, Mapping[str, float]]], title: str) -> go.Figure:
    """Bars in bits, one panel per measure: for each model (name -> MoE layer ->
    `routing_specialisation`'s dict) and each layer, what its routing says about the tokens'
    characters, their roles, and their roles beyond the character; in the last panel, crosses mark
    the shuffled-role baseline (`chance`), each panel on its own scale."""
    fig = make_subplots(
        rows=1, cols=len(SPECIALISATION_PANELS), subplot_titles=list(SPECIALISATION_PANELS.values())
    )
    for (model, layers), color in zip(scores.items(), OKABE_ITO, strict=False):
        x = [f"layer {layer}" for layer in layers]
        for col, (key, label) in enumerate(SPECIALISATION_PANELS.items(), start=1):
            fig.add_bar(
                x=x,
                y=[layers[layer][key] for layer in layers],
                name=model,
                marker_color=color,
                legendgroup=model,
                showlegend=col == 1,
                hovertemplate=f"{model}, %{{x}}<br>{label} = %{{y:.3f}} bits<extra></extra>",
                row=1,
                col=col,
            )
        fig.add_scatter(
            x=x,
            y=[layers[layer]["chance"] for layer in layers],
            mode="markers",
            marker=dict(symbol="x", size=10, color=color, line=dict(width=1, color="black")),
            name=f"{model}: roles shuffled within characters (chance)",
            legendgroup=model,
            hovertemplate=f"{model}, %{{x}}<br>chance: %{{y:.3f}} bits<extra></extra>",
            row=1,
            col=len(SPECIALISATION_PANELS),
        )
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.2))
    styled(fig, title, "MoE layer", "mutual information (bits)")
    for col in range(2, len(SPECIALISATION_PANELS) + 1):
        fig.update_xaxes(title_text="MoE layer", row=1, col=col)
    return fig


def trace_load_figure(loads: Mapping[int, torch.Tensor], title: str) -> go.Figure:
    """Expert choices over one trace, per MoE layer: loads maps layer -> [E] counts."""
    fig = go.Figure()
    for (layer, load), color in zip(loads.items(), OKABE_ITO, strict=False):
        ratio = float(imbalance(load))
        fig.add_bar(
            x=[f"e{e}" for e in range(len(load))],
            y=load.tolist(),
            name=f"layer {layer} (max/mean {ratio:.2f})",
            marker_color=color,
            hovertemplate=f"layer {layer}<br>expert %{{x}}: %{{y:.0f}} tokens<extra></extra>",
        )
    fig.add_hline(
        y=float(torch.stack(list(loads.values())).float().mean()),
        line_dash="dot",
        annotation_text="mean load",
    )
    return styled(fig, title, "routed expert", "tokens routed to it (count)")
