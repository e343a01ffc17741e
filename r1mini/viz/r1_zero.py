"""Chapter 06 views: R1-Zero's training replayed, its length explained, rule vs learned reward.

* `replay_figure`: the four curves of a GRPO run (`grpo_curves`: reward, accuracy, share that
  reasons, response length; R1 paper Figures 2-3) drawn up to one step, on fixed axes, so that a
  step slider replays the run.
* `length_fit` / `length_figure`: the mean response length of each step against the share of
  responses that reason. If a response's length depends only on whether it reasons, then
  ``length = direct + share · (reasoning − direct)``, a straight line; the fit says how much of
  the growth of R1-Zero's "thinking time" (§2.2.4, Figure 3) that explains in our miniature.
* `live_figure`: a run made in the notebook drawn over the first steps of a shipped run (redrawn
  while the run goes on by `LiveCurves(build=...)`).
* `reward_model_figure`: the rule's accuracy reward and a learned reward model's score
  (`r1mini.reasoning.reward_model`) side by side for kinds of response (§2.2.2).
* `responses_html`: responses as cards side by side (`InteractiveHTML` redraws them from a prompt
  picker and shows its default on the website).
* `ladder_figure` / `ladder_html`: the automatic verification of code (the guide's figure: not
  code, not Python, fails the tests, correct; `r1mini.reasoning.code_check`), as the share of a
  model's answers on each rung at several training steps, and as the answers themselves.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from r1mini.reasoning.code_check import RUNGS, CodeVerdict
from r1mini.viz.reasoning import (
    CARD_STYLE,
    CURVES,
    add_smoothed,
    grpo_curves,
    moving_average,
    response_html,
)
from r1mini.viz.style import OKABE_ITO, styled

Record = Mapping[str, Any]
LENGTH, SHARE = "response_length", "reasoning_share"


def training_steps(history: Sequence[Record]) -> list[Record]:
    """The records of training steps (those with every key `grpo_curves` plots), in order."""
    keys = [key for key, _, _, _ in CURVES]
    return [record for record in history if all(key in record for key in keys)]


def replay_figure(history: Sequence[Record], step: int, title: str, window: int = 10) -> go.Figure:
    """`grpo_curves` of the records up to ``step``, on the axes of the whole run, with a line at
    ``step`` and the ``window``-step means at that step in the title."""
    steps = training_steps(history)
    if not steps:
        raise ValueError("history has no training step to replay")
    last = steps[-1]["step"]
    if not steps[0]["step"] <= step <= last:
        raise ValueError(f"step={step} must lie in {steps[0]['step']}..{last}, the run's steps")
    shown = [record for record in history if record["step"] <= step]
    upto = [record for record in steps if record["step"] <= step]
    means = {key: moving_average([float(r[key]) for r in upto], window)[-1] for key, *_ in CURVES}
    heading = (
        f"{title}<br><sup>step {step} of {last}, {window}-step means: reward {means['reward']:.2f}, "
        f"accuracy {means['accuracy']:.0%}, reasoning {means[SHARE]:.0%}, "
        f"{means[LENGTH]:.1f} tokens</sup>"
    )
    fig = grpo_curves(shown, heading, window)
    for i, (key, _, _, eval_key) in enumerate(CURVES):
        values = [float(r[key]) for r in steps]
        values += [float(r[eval_key]) for r in history if eval_key and eval_key in r]
        low, high = min(values), max(values)
        pad = 0.05 * (high - low or 1.0)
        fig.update_yaxes(range=[low - pad, high + pad], row=i // 2 + 1, col=i % 2 + 1)
    fig.update_xaxes(range=[0, last + 1])
    fig.add_vline(x=step, line=dict(color="#555555", dash="dot", width=1), row="all", col="all")
    return fig


class LengthFit(NamedTuple):
    """``length = direct + share · (reasoning − direct)``, fitted by least squares.

    direct: tokens of a response that answers directly (share 0); reasoning: tokens of one that
    reasons (share 1); r_squared: the share of the variance of the steps' lengths it explains.
    """

    direct: float
    reasoning: float
    r_squared: float

    def predict(self, share: float) -> float:
        """The mean length of a batch of responses of which ``share`` reason."""
        return self.direct + share * (self.reasoning - self.direct)


def length_fit(history: Sequence[Record]) -> LengthFit:
    """Fit each training step's mean response length against its share of reasoning responses."""
    steps = training_steps(history)
    if len(steps) < 2:
        raise ValueError(f"length_fit needs at least 2 training steps; history has {len(steps)}")
    x = [float(r[SHARE]) for r in steps]
    y = [float(r[LENGTH]) for r in steps]
    mean_x, mean_y = sum(x) / len(x), sum(y) / len(y)
    sxx = sum((a - mean_x) ** 2 for a in x)
    if sxx == 0:
        raise ValueError("every step has the same reasoning share; a line through it is not determined")
    slope = sum((a - mean_x) * (b - mean_y) for a, b in zip(x, y, strict=True)) / sxx
    direct = mean_y - slope * mean_x
    fit = LengthFit(direct, direct + slope, 0.0)
    residual = sum((b - fit.predict(a)) ** 2 for a, b in zip(x, y, strict=True))
    total = sum((b - mean_y) ** 2 for b in y)
    return fit._replace(r_squared=1 - residual / total if total else 1.0)


def length_figure(history: Sequence[Record], fit: LengthFit, title: str, window: int = 10) -> go.Figure:
    """R1 Figure 3 in miniature: each step's mean response length (faint), its ``window``-step
    mean (bold), the length `fit` predicts from the step's reasoning share alone (dashed), and
    the held-out greedy evaluations (diamonds)."""
    steps = training_steps(history)
    x = [r["step"] for r in steps]
    lengths = [float(r[LENGTH]) for r in steps]
    fig = go.Figure()
    label = "mean length of the step's responses"
    add_smoothed(fig, x, lengths, label, OKABE_ITO[0], window, "%{y:.1f} tokens")
    predicted = [fit.predict(float(r[SHARE])) for r in steps]
    fig.add_scatter(
        x=x,
        y=moving_average(predicted, window),
        mode="lines",
        line=dict(color=OKABE_ITO[1], width=2, dash="dash"),
        name=f"from the share that reasons: {fit.direct:.1f} + share × {fit.reasoning - fit.direct:.1f}",
        hovertemplate=f"step %{{x}}<br>predicted from share ({window}-step mean): %{{y:.1f}} tokens"
        "<extra></extra>",
    )
    evals = [r for r in history if "eval_length" in r]
    if evals:
        fig.add_scatter(
            x=[r["step"] for r in evals],
            y=[float(r["eval_length"]) for r in evals],
            mode="markers",
            marker=dict(symbol="diamond", size=6, color="#000000", opacity=0.6),
            name="held-out questions, greedy",
            hovertemplate="step %{x}<br>held-out mean length: %{y:.1f} tokens<extra></extra>",
        )
    styled(fig, title, "GRPO step", "tokens per response")
    fig.update_layout(legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.2))
    return fig


def live_figure(
    live: Sequence[Record],
    shipped: Sequence[Record],
    title: str,
    keys: Sequence[str] = ("reward", SHARE, LENGTH),
) -> go.Figure:
    """One panel per metric: a run made now (``live``) over the same steps of a ``shipped`` run."""
    names = {key: (name, unit) for key, name, unit, _ in CURVES}
    unknown = [key for key in keys if key not in names]
    if unknown:
        raise ValueError(f"keys {unknown} are not GRPO curves; choose from {list(names)}")
    done = training_steps(live)
    if not done:
        raise ValueError("live has no training step to plot")
    last = done[-1]["step"]
    before = [r for r in training_steps(shipped) if r["step"] <= last]
    fig = make_subplots(rows=1, cols=len(keys), subplot_titles=[names[k][0] for k in keys])
    styled(fig, title, "GRPO step", names[keys[0]][1])
    for col, key in enumerate(keys, start=1):
        name, unit = names[key]
        fig.add_scatter(
            x=[r["step"] for r in before],
            y=[float(r[key]) for r in before],
            mode="lines",
            line=dict(color="#999999", width=5),
            name="shipped run",
            legendgroup="shipped",
            showlegend=col == 1,
            row=1,
            col=col,
            hovertemplate=f"shipped run, step %{{x}}<br>{name}: %{{y:.3f}}<extra></extra>",
        )
        fig.add_scatter(
            x=[r["step"] for r in done],
            y=[float(r[key]) for r in done],
            mode="lines+markers",
            line=dict(color=OKABE_ITO[col - 1], width=2),
            name="this notebook's run",
            legendgroup="live",
            showlegend=col == 1,
            row=1,
            col=col,
            hovertemplate=f"this run, step %{{x}}<br>{name}: %{{y:.3f}}<extra></extra>",
        )
        fig.update_xaxes(title_text="GRPO step", row=1, col=col)
        fig.update_yaxes(title_text=unit, row=1, col=col)
    fig.update_layout(legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.2))
    return fig


def reward_model_figure(kinds: Mapping[str, Mapping[str, float]], title: str) -> go.Figure:
    """Grouped bars per kind of response: the rule's mean accuracy reward and the learned reward
    model's mean score. ``kinds``: name -> {"rule": …, "learned": …, "n": responses}."""
    if not kinds:
        raise ValueError("kinds is empty: give at least one kind of response")
    names = list(kinds)
    fig = go.Figure()
    for key, label, color in (
        ("rule", "rule: accuracy reward", OKABE_ITO[2]),
        ("learned", "learned reward model", OKABE_ITO[3]),
    ):
        values = [float(kinds[name][key]) for name in names]
        fig.add_bar(
            x=names,
            y=values,
            name=label,
            marker_color=color,
            text=[f"{v:.2f}" for v in values],
            textposition="outside",
            customdata=[int(kinds[name]["n"]) for name in names],
            hovertemplate=f"%{{x}}<br>{label}: %{{y:.3f}} (mean of %{{customdata}} responses)<extra></extra>",
        )
    styled(fig, title, "kind of response", "reward (0 = wrong, 1 = right)")
    fig.update_yaxes(range=[0, 1.15])
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.25))
    return fig


def responses_html(columns: Sequence[tuple[str, str, str]], heading: str = "") -> str:
    """Responses as cards side by side: ``(label, response, note)`` per card; the thinking dimmed,
    the answer bold (`response_html`), the note (e.g. its reward) under it."""
    cards = []
    for label, response, note in columns:
        foot = f'<div style="font-size:12px;color:#333">{html.escape(note)}</div>' if note else ""
        cards.append(
            f'<div style="{CARD_STYLE}"><div style="font-size:13px;font-weight:bold;color:#0072B2">'
            f"{html.escape(label)}</div>{response_html(response)}{foot}</div>"
        )
    top = f'<div style="font-size:14px;margin:4px 0">{html.escape(heading)}</div>' if heading else ""
    return f'{top}<div style="display:flex;flex-wrap:wrap;gap:10px">{"".join(cards)}</div>'


RUNG_COLOURS = dict(zip(RUNGS, ("#999999", "#D55E00", "#E69F00", "#009E73"), strict=True))


def ladder_figure(verdicts: Mapping[int, Sequence[CodeVerdict]], title: str) -> go.Figure:
    """Stacked bars: for each training step (step -> the verdicts of the answers sampled then), the
    share of answers that stopped on each rung of the verification ladder."""
    steps = list(verdicts)
    fig = go.Figure()
    for rung in RUNGS:
        shares = [sum(v.rung == rung for v in verdicts[step]) / len(verdicts[step]) for step in steps]
        fig.add_bar(
            x=[f"step {step}" for step in steps],
            y=shares,
            name=rung,
            marker_color=RUNG_COLOURS[rung],
            hovertemplate=f"%{{x}}: %{{y:.0%}} of the answers {rung}<extra></extra>",
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(tickformat=".0%", range=[0, 1])
    return styled(fig, title, "SFT steps on the task", "share of the answers (rung reached)")


def ladder_html(
    prompts: Sequence[str], answers: Sequence[str | None], verdicts: Sequence[CodeVerdict]
) -> str:
    """A table: each request, the answer written (None: no answer block), the rung it reached and
    why it went no further."""
    rows = []
    for prompt, answer, verdict in zip(prompts, answers, verdicts, strict=True):
        shown = "(no answer block)" if answer is None else answer
        colour = RUNG_COLOURS[verdict.rung]
        rows.append(
            f"<tr><td>{html.escape(prompt)}</td><td><code>{html.escape(shown[:60])}</code></td>"
            f'<td style="color:{colour};font-weight:bold">{verdict.rung}</td>'
            f'<td style="font-size:12px">{html.escape(verdict.reason)}</td></tr>'
        )
    head = "<tr><th>request</th><th>answer</th><th>rung</th><th>why</th></tr>"
    return f'<table style="font-size:13px;text-align:left">{head}{"".join(rows)}</table>'
