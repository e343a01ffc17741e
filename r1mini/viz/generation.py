"""Chapter 08 views: decoding speed with and without the KV cache, what temperature and top-p do
to the next token, R1's sampled evaluation (pass@1, pass@k, cons@k), and where traces go wrong.

The numbers come from `r1mini.reasoning` (`generate`, `filter_logits`, `evaluate_model`,
`scaling`, `traces`); these functions only draw them, in the house style: titles, axis titles
with units, hover text, Okabe-Ito colours. Right answers are bluish green, wrong ones vermillion.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from r1mini.reasoning.evaluate import SampleRecord
from r1mini.reasoning.task import Task
from r1mini.reasoning.template import parse_response
from r1mini.reasoning.traces import Divergence, first_divergence, thinking_lines
from r1mini.viz.style import OKABE_ITO, styled

RIGHT, WRONG, NEUTRAL, FADED = OKABE_ITO[2], OKABE_ITO[3], OKABE_ITO[0], "#c8c8c8"


def step_times_figure(times: Mapping[str, Sequence[float]], title: str) -> go.Figure:
    """Seconds per decoding step against the generated token's index, one line per run.

    ``times``: run name -> the wall-clock seconds of each step (the first includes the prefill).
    """
    if not times:
        raise ValueError("times is empty: give at least one run's step times")
    fig = go.Figure()
    for (name, seconds), color in zip(times.items(), OKABE_ITO, strict=False):
        fig.add_scatter(
            x=list(range(1, len(seconds) + 1)),
            y=[1e3 * s for s in seconds],
            mode="lines",
            name=name,
            line=dict(color=color, width=2),
            hovertemplate=f"{name}<br>token %{{x}}: %{{y:.2f}} ms<extra></extra>",
        )
    styled(fig, title, "generated token (1 = prefill + first token)", "time per step (ms)")
    fig.update_layout(legend=dict(orientation="h", y=-0.2))
    return fig


def resample_figure(
    probs: Sequence[float],
    tokens: Sequence[str],
    kept: Sequence[bool],
    expected: str,
    greedy: str,
    answers: Sequence[str | None],
    right: str,
    title: str,
    top: int = 8,
) -> go.Figure:
    """Left: the ``top`` likeliest next tokens at one step (``probs`` after temperature), faded
    where top-p cuts them; the reference's token green, greedy's choice vermillion. Right: the
    answers of the responses sampled with those settings, the right one green."""
    if not len(probs) == len(tokens) == len(kept):
        raise ValueError(
            f"probs, tokens and kept must have one entry per token: {len(probs)}, {len(tokens)}, {len(kept)}"
        )
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.45, 0.55],
        horizontal_spacing=0.12,
        subplot_titles=["next token at the diverging step", f"answers of {len(answers)} samples"],
    )
    order = sorted(range(len(probs)), key=lambda i: -probs[i])[:top]
    colors, notes = [], []
    for i in order:
        role = "the reference's" if tokens[i] == expected else ""
        role = "greedy's choice" if tokens[i] == greedy else role
        color = RIGHT if tokens[i] == expected else WRONG if tokens[i] == greedy else NEUTRAL
        colors.append(color if kept[i] else FADED)
        notes.append(", ".join(n for n in (role, "" if kept[i] else "cut by top-p") if n))
    fig.add_bar(
        x=[repr(tokens[i]) for i in order],
        y=[probs[i] for i in order],
        marker_color=colors,
        customdata=notes,
        showlegend=False,
        row=1,
        col=1,
        text=[f"{probs[i]:.0%}" for i in order],
        textposition="outside",
        hovertemplate="token %{x}: %{y:.1%}<br>%{customdata}<extra></extra>",
    )
    votes = Counter("(no answer)" if a is None else " ".join(a.split()) for a in answers)
    names = [name for name, _ in votes.most_common()]
    fig.add_bar(
        x=names,
        y=[votes[n] for n in names],
        showlegend=False,
        row=1,
        col=2,
        marker_color=[RIGHT if n == right else WRONG for n in names],
        customdata=["right" if n == right else "wrong" for n in names],
        text=[votes[n] for n in names],
        textposition="outside",
        hovertemplate="answer %{x}: %{y} samples (%{customdata})<extra></extra>",
    )
    styled(fig, title, "", "probability")
    fig.update_xaxes(title_text="token (top-p cuts the faded ones)", row=1, col=1)
    fig.update_xaxes(title_text="answer (green = right)", type="category", row=1, col=2)
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%", row=1, col=1)
    fig.update_yaxes(title_text="samples", range=[0, len(answers) * 1.15], row=1, col=2)
    return fig


METRIC_STYLES = (("pass@1", "solid"), ("pass@k", "dot"), ("cons@k", "dash"))


def temperature_figure(summaries: Mapping[float, Mapping[str, float]], k: int, title: str) -> go.Figure:
    """pass@1, pass@k and cons@k against the sampling temperature (0 = greedy).

    ``summaries``: temperature -> ``summarize`` of ``evaluate_model`` rows (keys pass@1, pass@k,
    cons@n) with k samples per question (one for greedy, where the three coincide).
    """
    if not summaries:
        raise ValueError("summaries is empty: give at least one temperature's summary")
    temps = sorted(summaries)
    keys = {"pass@1": "pass@1", "pass@k": "pass@k", "cons@k": "cons@n"}
    fig = go.Figure()
    for (metric, dash), color in zip(METRIC_STYLES, OKABE_ITO, strict=False):
        label = metric.replace("k", str(k)) if metric != "pass@1" else metric
        fig.add_scatter(
            x=temps,
            y=[summaries[t][keys[metric]] for t in temps],
            mode="lines+markers",
            name=label,
            line=dict(color=color, dash=dash, width=2),
            hovertemplate=f"T = %{{x}}<br>{label}: %{{y:.1%}}<extra></extra>",
        )
    styled(fig, title, "sampling temperature T (0 = greedy)", "share of questions")
    fig.update_yaxes(tickformat=".0%")
    fig.update_layout(legend=dict(orientation="h", y=-0.2))
    return fig


def k_curves_figure(
    curves: Mapping[str, Mapping[str, Sequence[float]]], ks: Sequence[int], title: str
) -> go.Figure:
    """pass@k (solid) and cons@k (dashed) against k, one colour per model.

    ``curves``: model -> {"pass@k": [...], "cons@k": [...]}, one value per k in ``ks``.
    """
    if not curves:
        raise ValueError("curves is empty: give at least one model's curves")
    fig = go.Figure()
    for (model, values), color in zip(curves.items(), OKABE_ITO, strict=False):
        for metric, dash in (("pass@k", "solid"), ("cons@k", "dash")):
            fig.add_scatter(
                x=list(ks),
                y=list(values[metric]),
                mode="lines+markers",
                name=f"{model}: {metric}",
                line=dict(color=color, dash=dash, width=2),
                hovertemplate=f"{model}<br>{metric} at k = %{{x}}: %{{y:.1%}}<extra></extra>",
            )
    styled(fig, title, "k, samples per question (log scale)", "share of questions")
    fig.update_xaxes(type="log", tickvals=list(ks), ticktext=[str(k) for k in ks])
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    fig.update_layout(legend=dict(orientation="h", y=-0.2))
    return fig


def length_figure(records: Mapping[str, Sequence[SampleRecord]], title: str) -> go.Figure:
    """Response lengths, one panel per model (same length axis, each its own count axis): how
    many responses of each length were right (green) and wrong (vermillion), stacked."""
    if not records:
        raise ValueError("records is empty: give at least one model's scored samples")
    fig = make_subplots(rows=1, cols=len(records), subplot_titles=list(records), shared_xaxes="all")
    for col, rs in enumerate(records.values(), start=1):
        for verdict, color, keep in (("right", RIGHT, True), ("wrong", WRONG, False)):
            lengths = [r.n_tokens for r in rs if r.correct == keep]
            fig.add_histogram(
                x=lengths,
                xbins=dict(size=1),
                marker_color=color,
                name=verdict,
                legendgroup=verdict,
                showlegend=col == 1,
                row=1,
                col=col,
                hovertemplate=f"{verdict}<br>%{{x}} tokens: %{{y}} responses<extra></extra>",
            )
        fig.update_xaxes(title_text="response length (tokens)", row=1, col=col)
    styled(fig, title, "response length (tokens)", "responses")
    fig.update_layout(barmode="stack", legend=dict(orientation="h", y=-0.2))
    return fig


def divergence_figure(divergences: Sequence[Divergence], n_lines: int, title: str) -> go.Figure:
    """How many wrong responses first left the reference at each reasoning line (or only in
    the answer). ``n_lines``: lines of the reference reasoning."""
    counts = Counter(d.step for d in divergences if d.diverged)
    labels = [f"line {i + 1}" for i in range(n_lines)] + ["answer"]
    values = [counts.get(i, 0) for i in range(n_lines + 1)]
    total = max(sum(values), 1)
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=values,
            marker_color=WRONG,
            text=values,
            textposition="outside",
            customdata=[v / total for v in values],
            hovertemplate="%{x}: %{y} responses (%{customdata:.0%})<extra></extra>",
        )
    )
    styled(fig, title, "where the response first leaves the reference", "wrong responses")
    fig.update_yaxes(range=[0, max(*values, 1) * 1.2])
    return fig


CELL = "padding:1px 8px;font-family:monospace;font-size:13px;white-space:pre"


def trace_diff_html(items: Sequence[tuple[Task, str]]) -> str:
    """Each response beside its task's reference reasoning, line by line: matching lines grey,
    the first diverging line bold on a vermillion bar, the lines after it (conditioned on the
    slip) in italics; then both answers."""
    cards = []
    for task, response in items:
        where = first_divergence(task, response)
        reference, written = task.thinking.split("\n"), thinking_lines(response)
        rows = []
        for i in range(max(len(reference), len(written))):
            style = "color:#6f6f6f"  # the same as the reference so far
            if where.part == "thinking" and where.step is not None and i == where.step:
                style = f"font-weight:bold;border-left:4px solid {WRONG}"
            elif where.part == "thinking" and where.step is not None and i > where.step:
                style = "font-style:italic"
            cells = (line[i] if i < len(line) else "" for line in (reference, written))
            tds = "".join(f'<td style="{CELL};{style}">{html.escape(c)}</td>' for c in cells)
            rows.append(f"<tr>{tds}</tr>")
        answer = parse_response(response).answer
        answer_color = RIGHT if answer is not None and task.check(answer) else WRONG
        rows.append(
            f'<tr><td style="{CELL};color:{RIGHT};font-weight:bold">{html.escape(task.answer)}</td>'
            f'<td style="{CELL};color:{answer_color};font-weight:bold">'
            f"{html.escape(answer or '(no answer)')}</td></tr>"
        )
        cards.append(
            '<div style="border:1px solid #bbbbbb;border-radius:6px;padding:6px 10px">'
            f'<div style="font-weight:bold;color:{NEUTRAL};font-size:13px">'
            f"{html.escape(task.prompt)}</div><table><tr>"
            f'<th style="{CELL}">reference</th><th style="{CELL}">model</th></tr>'
            f"{''.join(rows)}</table></div>"
        )
    return f'<div style="display:flex;flex-wrap:wrap;gap:10px">{"".join(cards)}</div>'
