"""Chapter 5 views: GRPO's maths one piece at a time (R1 paper §2.2.1, eq. 1-3; DeepSeekMath §4.1).

* `group_figure`: one question's group of sampled responses, their rule-based rewards r_i and the
  group-relative advantages Â_i = (r_i − mean r) / std r (eq. 3) that stand in for PPO's value model.
* `clipped_objective`, `clipped_objective_figure`: the per-token objective of eq. 1 as a function of
  the probability ratio ρ = π_θ/π_old, for a positive and a negative advantage. Every value is
  computed by `r1mini.training.grpo_loss` itself, on one token at a time.
* `update_figure`: how far GRPO updates moved each response's log-probability, against its advantage.
* `token_weights`, `token_weight_figure`: how much one token counts in the loss under each
  aggregation `grpo_loss` implements (GRPO's per-sequence mean, BNPO/DAPO's token mean, Dr. GRPO's
  constant, arXiv 2503.20783 §3.1), read off the loss's own gradient.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from r1mini.reasoning.template import parse_response
from r1mini.training.grpo_loss import grpo_loss
from r1mini.viz.style import FIGURE_HEIGHT, OKABE_ITO, styled

REASONS, DIRECT = OKABE_ITO[0], OKABE_ITO[1]  # colours: responses that reason / answer directly
AGGREGATIONS = (
    ("grpo", "grpo: mean of per-response means (DeepSeekMath eq. 3)"),
    ("bnpo", "bnpo / dapo: mean over all tokens"),
    ("dr_grpo", "dr_grpo: sum / (G · max length)"),
)  # loss_type, legend label (dapo computes exactly bnpo without gradient accumulation)


def _reasons(text: str) -> bool:
    """Whether a response has a non-empty <think> block (as `score_sample` counts it)."""
    return bool(parse_response(text).thinking)


def _hover(text: str, width: int = 60) -> str:
    """A response as hover text: HTML-escaped, one line per line, long lines cut."""
    lines = [line if len(line) <= width else line[: width - 1] + "…" for line in text.splitlines()]
    return "<br>".join(html.escape(line) for line in lines)


def group_figure(
    texts: Sequence[str], rewards: torch.Tensor, advantages: torch.Tensor, title: str
) -> go.Figure:
    """Bars of each response's reward r_i (top) and advantage Â_i (bottom), coloured by whether the
    response reasons; the dotted line is the group's mean reward, the baseline GRPO compares with.

    texts: the G responses; rewards, advantages: [G] (e.g. from `group_advantages`).
    """
    g = len(texts)
    if g == 0 or tuple(rewards.shape) != (g,) or tuple(advantages.shape) != (g,):
        raise ValueError(
            f"group_figure: got {g} texts, rewards.shape={tuple(rewards.shape)}, "
            f"advantages.shape={tuple(advantages.shape)}; need G >= 1 texts and two [G] tensors"
        )
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        subplot_titles=["rule-based reward r_i", "advantage Â_i = (r_i − mean) / std"],
    )
    names = [f"o{i + 1}" for i in range(g)]
    reasons = [_reasons(text) for text in texts]
    for row, (values, what) in enumerate(((rewards, "reward"), (advantages, "advantage")), start=1):
        for flag, label, colour in ((True, "reasons", REASONS), (False, "answers directly", DIRECT)):
            keep = [i for i in range(g) if reasons[i] == flag]
            if not keep:
                continue
            fig.add_bar(
                x=[names[i] for i in keep],
                y=[float(values[i]) for i in keep],
                marker_color=colour,
                name=label,
                legendgroup=label,
                showlegend=row == 1,
                customdata=[_hover(texts[i]) for i in keep],
                row=row,
                col=1,
                hovertemplate=f"%{{x}} ({label})<br>{what}: %{{y:.3f}}<br>%{{customdata}}<extra></extra>",
            )
    fig.add_hline(
        y=float(rewards.mean()),
        line_dash="dot",
        line_color="#000000",
        row=1,
        col=1,
        annotation_text=f"group mean {float(rewards.mean()):.3f}",
        annotation_position="top left",
    )
    styled(fig, title, "", "")
    fig.update_xaxes(title_text="sampled response", row=2, col=1, categoryorder="array", categoryarray=names)
    fig.update_xaxes(categoryorder="array", categoryarray=names, row=1, col=1)
    fig.update_yaxes(title_text="reward (points)", row=1, col=1)
    fig.update_yaxes(title_text="advantage (group std units)", row=2, col=1)
    fig.update_layout(height=int(FIGURE_HEIGHT * 1.3), legend=dict(orientation="h", y=-0.15))
    return fig


def clipped_objective(
    ratio: torch.Tensor,
    advantage: float,
    clip_eps: float = 0.2,
    beta: float = 0.0,
    clip_eps_high: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GRPO's objective for one token (R1 eq. 1 per token, the negated `grpo_loss`) at each ratio.

    ratio: [N] values of ρ = π_θ/π_old > 0. The reference policy is taken equal to π_old (as at the
    first update of a run), so D_KL = 1/ρ + log ρ − 1. Each value is `grpo_loss` on one token with
    log π_θ = log ρ and log π_old = log π_ref = 0.

    Returns (objective, kl, clipped), each [N]: min(ρÂ, clip(ρ)Â) − β·D_KL; D_KL (k3); and True where
    the clip leaves the surrogate flat, so its gradient is 0 (`grpo_loss`'s clip_frac metrics).
    """
    if ratio.dim() != 1 or not bool((ratio > 0).all()):
        raise ValueError(f"clipped_objective: ratio.shape={tuple(ratio.shape)} must be [N] with every ρ > 0")
    zero, one = torch.zeros(1, 1), torch.ones(1, 1)
    adv = torch.tensor([float(advantage)])
    objective, kl, clipped = [], [], []
    for log_ratio in ratio.log():  # log ρ = log π_θ − log π_old
        loss, metrics = grpo_loss(
            log_ratio.view(1, 1),
            zero,
            zero,
            adv,
            one,
            clip_eps=clip_eps,
            clip_eps_high=clip_eps_high,
            beta=beta,
        )
        objective.append(-float(loss))
        kl.append(metrics["kl"])
        clipped.append(metrics["clip_frac_low"] + metrics["clip_frac_high"] > 0)
    return torch.tensor(objective), torch.tensor(kl), torch.tensor(clipped)


def clipped_objective_figure(
    clip_eps: float = 0.2, beta: float = 0.04, advantage: float = 1.0, max_ratio: float = 2.5
) -> go.Figure:
    """Two panels, Â = +advantage and Â = −advantage: the unclipped ρÂ, the clipped surrogate, the
    KL penalty and their sum against ρ, with the flat (zero-gradient) clipped range shaded."""
    if advantage <= 0:
        raise ValueError(f"clipped_objective_figure: advantage={advantage} must be > 0 (both signs drawn)")
    if max_ratio <= 1:
        raise ValueError(f"clipped_objective_figure: max_ratio={max_ratio} must be > 1")
    ratio = torch.linspace(0.02, max_ratio, 125)  # [N]
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.1,
        subplot_titles=[
            f"Â = +{advantage:g}: a better-than-average response",
            f"Â = −{advantage:g}: a worse-than-average response",
        ],
    )
    styled(fig, f"GRPO's per-token objective: ε = {clip_eps:g}, β = {beta:g}", "", "")
    x = ratio.tolist()
    for col, adv in enumerate((advantage, -advantage), start=1):
        objective, kl, clipped = clipped_objective(ratio, adv, clip_eps, beta)
        surrogate = objective + beta * kl  # [N] min(ρÂ, clip(ρ)Â)
        cell = dict(row=1, col=col)
        curves = (
            ("ρ·Â (unclipped)", (ratio * adv).tolist(), dict(color="#777777", dash="dash", width=2)),
            ("min(ρÂ, clip(ρ)Â)", surrogate.tolist(), dict(color=OKABE_ITO[0], width=3)),
            ("−β·D_KL (π_ref = π_old)", (-beta * kl).tolist(), dict(color=OKABE_ITO[2], dash="dot", width=2)),
            ("objective: surrogate − β·D_KL", objective.tolist(), dict(color=OKABE_ITO[3], width=2)),
        )
        for name, y, line in curves:
            fig.add_scatter(
                x=x,
                y=y,
                mode="lines",
                name=name,
                line=line,
                legendgroup=name,
                showlegend=col == 1,
                hovertemplate=f"Â = {adv:+g}, ρ = %{{x:.3f}}<br>{name}: %{{y:.4f}}<extra></extra>",
                **cell,
            )
        flat = ratio[clipped]  # shapes after the traces: plotly skips them on an empty subplot
        if len(flat):
            fig.add_vrect(
                x0=float(flat.min()),
                x1=float(flat.max()),
                fillcolor="#bbbbbb",
                opacity=0.3,
                line_width=0,
                annotation_text="clipped: surrogate flat",
                annotation_position="top",
                **cell,
            )
        for bound in (1 - clip_eps, 1 + clip_eps):
            fig.add_vline(x=bound, line_dash="dot", line_color="#777777", **cell)
        fig.update_xaxes(title_text="probability ratio ρ = π_θ / π_old (1 = unchanged)", **cell)
    fig.update_yaxes(title_text="objective per token (advantage units)", row=1, col=1)
    top = 1.15 * advantage * max_ratio
    fig.update_yaxes(range=[-top, top])
    fig.update_layout(legend=dict(orientation="h", y=-0.22), margin=dict(b=110))
    return fig


def update_figure(
    advantages: torch.Tensor, delta_logp: torch.Tensor, texts: Sequence[str], title: str
) -> go.Figure:
    """Each response's change of log π_θ(o_i | q) (summed over its tokens) after GRPO updates,
    against its advantage Â_i; coloured by whether it reasons. advantages, delta_logp: [G]."""
    g = len(texts)
    if tuple(advantages.shape) != (g,) or tuple(delta_logp.shape) != (g,):
        raise ValueError(
            f"update_figure: advantages.shape={tuple(advantages.shape)} and "
            f"delta_logp.shape={tuple(delta_logp.shape)} must both be [{g}] (one per text)"
        )
    fig = go.Figure()
    reasons = [_reasons(text) for text in texts]
    for flag, label, colour in ((True, "reasons", REASONS), (False, "answers directly", DIRECT)):
        keep = [i for i in range(g) if reasons[i] == flag]
        if not keep:
            continue
        fig.add_scatter(
            x=[float(advantages[i]) for i in keep],
            y=[float(delta_logp[i]) for i in keep],
            mode="markers",
            marker=dict(color=colour, size=11, line=dict(width=1, color="#000000")),
            name=label,
            customdata=[[f"o{i + 1}", _hover(texts[i])] for i in keep],
            hovertemplate=(
                "%{customdata[0]}: Â = %{x:.3f}, Δ log π = %{y:.3f} nats<br>%{customdata[1]}<extra></extra>"
            ),
        )
    fig.add_hline(y=0, line_color="#777777", line_width=1)
    fig.add_vline(x=0, line_color="#777777", line_width=1)
    return styled(
        fig, title, "advantage Â_i (group std units)", "change of log π_θ(o_i | q) (nats, whole response)"
    )


def token_weights(
    mask: torch.Tensor, loss_type: str, max_completion_length: int | None = None
) -> torch.Tensor:
    """How much one token of each response counts in `grpo_loss` under `loss_type`: [B].

    mask: [B, T] 1 on response tokens. With every Â = 1, β = 0 and π_θ = π_old, the loss's gradient
    with respect to a token's log-probability is −(that token's weight) (grpo: 1/(B·|o_i|); bnpo and
    dapo: 1/N; dr_grpo: 1/(B·L)); read from autograd, not from those formulas. Empty rows get 0.
    """
    if mask.dim() != 2:
        raise ValueError(f"token_weights: mask.shape={tuple(mask.shape)} must be [B, T]")
    logp = torch.zeros(mask.shape, requires_grad=True)  # [B, T] ρ = 1 everywhere
    loss, _ = grpo_loss(
        logp,
        logp.detach(),
        None,
        torch.ones(mask.shape[0]),
        mask,
        beta=0.0,
        loss_type=loss_type,
        max_completion_length=max_completion_length,
    )
    loss.backward()
    mask = mask.float()
    return -(logp.grad * mask).sum(dim=-1) / mask.sum(dim=-1).clamp(min=1)  # [B]


def token_weight_figure(mask: torch.Tensor, max_completion_length: int, title: str) -> go.Figure:
    """Per aggregation of `grpo_loss`, against response length: the weight of one token (left) and
    of a whole response (right, the sum over its tokens). mask: [B, T] response tokens."""
    lengths = mask.sum(dim=-1).float()  # [B]
    order = lengths.argsort()
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.12,
        subplot_titles=["weight of one token", "weight of a whole response"],
    )
    for (loss_type, label), colour in zip(AGGREGATIONS, OKABE_ITO, strict=False):
        per_token = token_weights(mask, loss_type, max_completion_length)[order]  # [B]
        x = lengths[order].tolist()
        for col, y in enumerate((per_token, per_token * lengths[order]), start=1):
            fig.add_scatter(
                x=x,
                y=y.tolist(),
                mode="lines+markers",
                name=label,
                legendgroup=label,
                showlegend=col == 1,
                line=dict(color=colour, width=2),
                marker=dict(size=7),
                hovertemplate=f"{label}<br>|o_i| = %{{x:.0f}} tokens: %{{y:.5f}}<extra></extra>",
                row=1,
                col=col,
            )
    styled(fig, title, "", "")
    for col in (1, 2):
        fig.update_xaxes(title_text="response length |o_i| (tokens)", row=1, col=col)
    fig.update_yaxes(title_text="share of the loss (gradient per unit Â)", row=1, col=1)
    fig.update_layout(legend=dict(orientation="h", y=-0.22), margin=dict(b=110))
    return fig
