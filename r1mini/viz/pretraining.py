"""Chapter 04 figures: next-token pretraining with multi-token prediction (V3 paper §2.2, eq. 21-25)
and auxiliary-loss-free balancing during training (§2.1.2, eq. 16-20).

* `pretraining_curves`: a run's losses (main and MTP cross-entropy), expert balance per MoE layer and
  held-out accuracy, over one or more stages (live as a trainer callback: `LiveCurves(build=...)`).
* `draft_figure`: token by token, whether the main model guessed each token from one position back
  and the MTP module from two back (`r1mini.reasoning.speculative.DraftCheck`).
* `acceptance_figure`: draft hit rates beside the 85-90% acceptance V3 reports (§5.4.3).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from r1mini.reasoning.speculative import V3_ACCEPTANCE, DraftCheck
from r1mini.reasoning.tokenizer import VOCAB
from r1mini.viz.reasoning import add_smoothed, moving_average
from r1mini.viz.style import FIGURE_HEIGHT, OKABE_ITO, styled

LOSSES = (("ce", "main model: token t+1"), ("mtp_loss", "MTP module: token t+2"))
BALANCE = "load_max_over_mean"
ACCURACY = "eval_accuracy"
SHORT = {
    "<pad>": "·",
    "<bos>": "‹b›",
    "<eos>": "‹e›",
    "<think>": "‹t›",
    "</think>": "‹/t›",
    "<answer>": "‹a›",
    "</answer>": "‹/a›",
    "\n": "⏎",
    " ": "␣",
}
HIT, MISS = OKABE_ITO[5], OKABE_ITO[1]  # sky blue, orange
GREY = "#EEEEEE"
TRUTH = 0.5  # the heatmap value of the true-token row: grey, between MISS (0) and HIT (1)


def _join(stages: Mapping[str, Sequence[Mapping[str, Any]]]) -> tuple[list[dict], list[tuple[str, int]]]:
    """The stages' records one after the other, steps renumbered to run on; and (name, first step)."""
    records, starts, offset = [], [], 0
    for name, history in stages.items():
        starts.append((name, offset + 1))
        records += [{**record, "step": offset + record["step"]} for record in history]
        offset += max((record["step"] for record in history), default=0)
    return records, starts


def pretraining_curves(
    stages: Mapping[str, Sequence[Mapping[str, Any]]],
    title: str,
    layer_names: Sequence[str] | None = None,
    window: int = 10,
) -> go.Figure:
    """Panels over the training steps of `stages` (stage name -> the records a `Trainer` writes,
    drawn one after the other, a dashed line where a stage starts):

    1. cross-entropy of the main model (`ce`, token t+1) and of the MTP module (`mtp_loss`, token
       t+2), in nats per token on a log axis: each step faint, the `window`-step mean bold;
    2. the busiest expert's load over the mean load (`load_max_over_mean`), `window`-step mean, one
       line per MoE layer, named by `layer_names` (default "MoE layer i"); 1 is perfect balance;
    3. held-out accuracy (`eval_accuracy`), where the records have it.
    """
    records, starts = _join(stages)
    evals = [r for r in records if ACCURACY in r]
    panels = ["cross-entropy (log axis)", "expert load: busiest ÷ mean"]
    panels += ["held-out accuracy (greedy)"] if evals else []
    fig = make_subplots(
        rows=len(panels), cols=1, shared_xaxes=True, subplot_titles=panels, vertical_spacing=0.08
    )
    styled(fig, title, "", "")
    for (key, name), color in zip(LOSSES, OKABE_ITO, strict=False):
        rows = [r for r in records if key in r]
        x, y = [r["step"] for r in rows], [float(r[key]) for r in rows]
        add_smoothed(fig, x, y, name, color, window, "%{y:.4f} nats", name=name, row=1, col=1)
    rows = [r for r in records if BALANCE in r]
    n_layers = max((len(r[BALANCE]) for r in rows), default=0)
    names = list(layer_names) if layer_names is not None else [f"MoE layer {i}" for i in range(n_layers)]
    if len(names) < n_layers:
        raise ValueError(f"layer_names has {len(names)} names; the records have {n_layers} MoE layers")
    for i in range(n_layers):
        layer_rows = [r for r in rows if len(r[BALANCE]) > i]
        y = moving_average([float(r[BALANCE][i]) for r in layer_rows], window)
        fig.add_scatter(
            x=[r["step"] for r in layer_rows],
            y=y,
            mode="lines",
            row=2,
            col=1,
            name=names[i],
            line=dict(color=OKABE_ITO[(i + 2) % len(OKABE_ITO)], width=2),
            hovertemplate=f"step %{{x}}<br>{names[i]}: busiest ÷ mean = %{{y:.2f}}"
            f" ({window}-step mean)<extra></extra>",
        )
    fig.add_hline(y=1, line=dict(dash="dot", color="#888888"), row=2, col=1)
    if evals:
        fig.add_scatter(
            x=[r["step"] for r in evals],
            y=[float(r[ACCURACY]) for r in evals],
            row=3,
            col=1,
            mode="lines+markers",
            marker=dict(symbol="diamond", size=8, color=OKABE_ITO[7]),
            line=dict(color=OKABE_ITO[7], dash="dot"),
            name="held-out accuracy, greedy",
            hovertemplate="step %{x}<br>held-out accuracy: %{y:.1%}<extra></extra>",
        )
        fig.update_yaxes(title_text="share correct", tickformat=".0%", range=[-0.03, 1.05], row=3, col=1)
    losses = [float(r[key]) for r in records for key, _ in LOSSES if key in r and float(r[key]) > 0]
    decades = math.log10(max(losses) / min(losses)) if losses else 0.0
    fig.update_yaxes(
        type="log", dtick=1 if decades > 1.5 else None, title_text="nats per token", row=1, col=1
    )
    fig.update_yaxes(title_text="load ratio (1 = even)", row=2, col=1)
    fig.update_xaxes(title_text="training step", row=len(panels), col=1)
    for _, start in starts[1:]:
        fig.add_vline(x=start - 0.5, line=dict(dash="dash", color="#555555"), row="all", col=1)
    for name, start in starts if len(starts) > 1 else []:
        fig.add_annotation(
            x=start,
            y=1,
            xref="x",
            yref="y domain",
            text=name,
            showarrow=False,
            xanchor="left",
            yanchor="top",
            font=dict(size=12, color="#333333"),
        )
    fig.update_layout(height=int(FIGURE_HEIGHT * (0.55 + 0.45 * len(panels))), legend=dict(y=0.5))
    return fig


def token_label(token_id: int) -> str:
    """A short printable label for a token id (special tokens and whitespace abbreviated)."""
    token = VOCAB[token_id] if 0 <= token_id < len(VOCAB) else f"#{token_id}"
    return SHORT.get(token, token)


def draft_figure(check: DraftCheck, row: int, title: str) -> go.Figure:
    """Every scored token j of sequence `row` (columns): the true token (grey row), the main model's
    guess of it from position j-1 and the MTP module's draft of it from position j-2, given the true
    token j-1 (sky blue: right, orange: wrong). Each cell shows its token, the hover says more."""
    if not 0 <= row < check.tokens.shape[0]:
        raise ValueError(f"row={row} must be in [0, {check.tokens.shape[0]}) (sequences checked)")
    tokens = check.tokens[row].tolist()
    positions = check.scored[row].nonzero().flatten().tolist()  # i: the draft at i guesses token i+2
    if not positions:
        raise ValueError(f"sequence {row} has no scored position")
    main_len = check.main.shape[1]
    truth = [tokens[i + 2] for i in positions]
    guesses = {
        "main model (1 back)": [int(check.main[row, i + 1]) if i + 1 < main_len else None for i in positions],
        "MTP draft (2 back)": [int(check.draft[row, i]) for i in positions],
    }  # who guessed -> their guess of token i+2, per scored i
    z = [[TRUTH] * len(truth)]
    text = [[token_label(t) for t in truth]]
    hover = [[f"token {i + 2}: {_quoted(t)}" for i, t in zip(positions, truth, strict=True)]]
    for who, row_guesses in guesses.items():
        z.append([math.nan if g is None else float(g == t) for g, t in zip(row_guesses, truth, strict=True)])
        text.append(["" if g is None else token_label(g) for g in row_guesses])
        hover.append(
            [
                f"token {i + 2}: {_quoted(t)}<br>{who}: "
                + (
                    "no guess (end of sequence)"
                    if g is None
                    else f"{_quoted(g)}, {'right' if g == t else 'wrong'}"
                )
                for i, g, t in zip(positions, row_guesses, truth, strict=True)
            ]
        )
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[i + 2 for i in positions],
            y=["true token", *guesses],
            text=text,
            customdata=hover,
            texttemplate="%{text}",
            textfont=dict(size=11),
            hovertemplate="%{customdata}<extra></extra>",
            colorscale=[[0, MISS], [1 / 3, MISS], [1 / 3, GREY], [2 / 3, GREY], [2 / 3, HIT], [1, HIT]],
            zmin=0,
            zmax=1,
            showscale=False,
            xgap=1,
            ygap=3,
        )
    )
    styled(fig, title, "position in the sequence (token)", "")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=280)
    return fig


def _quoted(token_id: int) -> str:
    """The token's text, quoted and HTML-escaped for a hover label."""
    return html.escape(repr(VOCAB[token_id]))


def acceptance_figure(rates: Mapping[str, float], title: str) -> go.Figure:
    """Horizontal bars of draft hit rates (name -> share in [0, 1]) beside the band of acceptance
    rates V3 reports for its MTP drafts (§5.4.3)."""
    if not rates:
        raise ValueError("rates is empty: give at least one name -> hit rate")
    names = list(rates)
    low, high = V3_ACCEPTANCE
    fig = go.Figure(
        go.Bar(
            x=[rates[n] for n in names],
            y=names,
            orientation="h",
            marker_color=OKABE_ITO[0],
            text=[f"{rates[n]:.1%}" for n in names],
            textposition="outside",
            hovertemplate="%{y}<br>drafts right: %{x:.1%}<extra></extra>",
        )
    )
    fig.add_vrect(x0=low, x1=high, fillcolor=OKABE_ITO[1], opacity=0.3, line_width=0)
    fig.add_annotation(
        x=high,
        y=1,
        xref="x",
        yref="paper",
        yanchor="bottom",
        xanchor="right",
        showarrow=False,
        text=f"DeepSeek-V3 §5.4.3: {low * 100:.0f}-{high:.0%} of drafts accepted",
        font=dict(size=12),
    )
    styled(fig, title, "share of MTP drafts that are right", "")
    fig.update_xaxes(range=[0, 1.12], tickformat=".0%")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=140 + 70 * len(names))
    return fig
