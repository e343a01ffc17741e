"""Chapter 00 views: a response as it is generated, and the curves of R1-Zero's training.

A response in the R1 format (R1 paper §2.2.3) is reasoning inside ``<think> </think>`` and then
an answer. `StreamView` draws responses token by token as `generate` samples them (its
``on_token`` callback wraps `r1mini.reasoning.text_stream`): the thinking dimmed, the answer
bold. In live Jupyter it redraws one output in place (an IPython display handle); a book build
keeps the last drawing, a replay the reader plays and scrubs token by token. `grpo_curves` plots the
per-step records of a GRPO run (R1 paper Figure 2-3: accuracy and response length over RL steps)
and `comparison_figure` compares models measured on the same questions.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import torch
from IPython.display import HTML, display
from plotly.subplots import make_subplots

from r1mini.reasoning.generate import OnToken, Part, text_stream
from r1mini.reasoning.tokenizer import END_THINK
from r1mini.viz.replay import stream_figure
from r1mini.viz.site import building_site
from r1mini.viz.style import FIGURE_HEIGHT, OKABE_ITO, figure_html, styled

PART_STYLES: dict[Part, str] = {
    "thinking": "color:#5f5f5f",  # dimmed, still 6:1 contrast on white
    "answer": "color:#000000;font-weight:bold",
}
CARD_STYLE = (
    "flex:1 1 260px;min-width:0;border:1px solid #bbbbbb;border-radius:6px;"
    "padding:6px 10px;background:#ffffff"
)
TEXT_STYLE = (
    "white-space:pre-wrap;word-break:break-word;margin:4px 0;font-size:13px;"
    "line-height:1.35;background:none;border:none;padding:0"
)


def split_response(response: str) -> tuple[str, str]:
    """(thinking, answer): the text up to and including the first ``</think>``, and the rest.

    A response with no ``</think>`` is all thinking: it never stopped reasoning.
    """
    end = response.find(END_THINK)
    if end < 0:
        return response, ""
    cut = end + len(END_THINK)
    return response[:cut], response[cut:]


def pieces_html(pieces: Sequence[tuple[str, Part]]) -> str:
    """Consecutive pieces of the same part in one ``<span>``, text HTML-escaped."""
    spans: list[tuple[Part, str]] = []
    for piece, part in pieces:
        if spans and spans[-1][0] == part:
            spans[-1] = (part, spans[-1][1] + piece)
        else:
            spans.append((part, piece))
    return "".join(f'<span style="{PART_STYLES[part]}">{html.escape(text)}</span>' for part, text in spans)


def response_html(response: str) -> str:
    """One response as HTML: the thinking dimmed, the answer bold, tags shown as text."""
    thinking, answer = split_response(response)
    pieces = [(text, part) for text, part in ((thinking, "thinking"), (answer, "answer")) if text]
    return f'<pre style="{TEXT_STYLE}">{pieces_html(pieces)}</pre>'


class StreamView:
    """Responses side by side, drawn as they are generated.

    ``labels``: one heading per column (e.g. the model and the question). Pass
    ``view.on_token(first=c)`` as `generate`'s ``on_token``: row ``r`` of that batch streams into
    column ``c + r``. ``view.note(c, text)`` writes a line under a column (e.g. its reward).
    ``delay`` seconds pass after each generated token, so that a reader can watch it think.
    """

    def __init__(self, labels: Sequence[str], template: str = "r1-chat", delay: float = 0.0) -> None:
        if not labels:
            raise ValueError("StreamView needs at least one column label")
        if delay < 0:
            raise ValueError(f"delay={delay} must be >= 0 seconds")
        self.labels = list(labels)
        self.template = template
        self.delay = delay
        self.pieces: list[list[tuple[str, Part]]] = [[] for _ in self.labels]
        self.notes: list[str] = ["" for _ in self.labels]
        self.events: list[tuple[int, str, Part]] = []  # (column, piece, part), in generation order
        self.step_ends: list[int] = []  # events after each generation step, for the site's replay
        self.handle = None

    def show(self) -> StreamView:
        """Display the view now (empty) and redraw that same output as tokens arrive."""
        self.handle = display(HTML(self.html()), display_id=True)
        return self

    def on_token(self, first: int = 0) -> OnToken:
        """A `generate` callback streaming batch row ``r`` into column ``first + r``."""

        def add(row: int, piece: str, part: Part) -> None:
            column = first + row
            if not 0 <= column < len(self.labels):
                raise ValueError(
                    f"batch row {row} streams to column {column}; the view has "
                    f"{len(self.labels)} columns (first={first})"
                )
            self.pieces[column].append((piece, part))
            self.events.append((column, piece, part))

        pieces = text_stream(add, self.template)

        def on_token(step: int, tokens: torch.Tensor, finished: torch.Tensor) -> None:
            pieces(step, tokens, finished)
            self.step_ends.append(len(self.events))
            self.refresh()
            if self.delay:
                time.sleep(self.delay)

        return on_token

    def note(self, column: int, text: str) -> None:
        """Write ``text`` under column ``column`` (replacing its previous note)."""
        self.notes[column] = text
        self.refresh()

    def text(self, column: int) -> str:
        """The response streamed into ``column`` so far."""
        return "".join(piece for piece, _ in self.pieces[column])

    def refresh(self) -> None:
        if self.handle is not None:
            self.handle.update(HTML(self.html()))

    def html(self) -> str:
        """The responses so far: cards in Jupyter; on the website, a replay of their generation
        with play/pause and a step slider (`r1mini.viz.replay.stream_figure`)."""
        if building_site() and self.step_ends:
            return figure_html(stream_figure(self.labels, self.events, self.step_ends, self.notes))
        cards = []
        for label, pieces, note in zip(self.labels, self.pieces, self.notes, strict=True):
            foot = f'<div style="font-size:12px;color:#333">{html.escape(note)}</div>' if note else ""
            cards.append(
                f'<div style="{CARD_STYLE}">'
                f'<div style="font-size:13px;font-weight:bold;color:#0072B2">'
                f"{html.escape(label)}</div>"
                f'<pre style="{TEXT_STYLE}">{pieces_html(pieces)}</pre>{foot}</div>'
            )
        return f'<div style="display:flex;flex-wrap:wrap;gap:10px">{"".join(cards)}</div>'

    def _repr_html_(self) -> str:
        return self.html()


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Mean of each value and the ``window - 1`` before it (fewer at the start)."""
    if window < 1:
        raise ValueError(f"window={window} must be at least 1 step")
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def add_smoothed(
    fig: go.Figure,
    x: Sequence[float],
    y: Sequence[float],
    label: str,
    color: str,
    window: int,
    value: str = "%{y:.3f}",
    where: str = "step %{x}",
    **bold: Any,
) -> None:
    """A noisy per-step series drawn twice: faint, every step (no legend entry), and bold, its
    ``window``-step `moving_average`. Hover reads "{where}<br>{label}: {value}" (the mean's says
    "{label}, {window}-step mean"). ``bold``: the bold trace's own properties (``name``, by default
    "{label}, {window}-step mean"; legend settings; ``row`` and ``col``, which both traces take)."""
    cell = {key: bold[key] for key in ("row", "col") if key in bold}
    fig.add_scatter(
        x=x,
        y=y,
        mode="lines",
        line=dict(color=color, width=1),
        opacity=0.35,
        name=f"{label}, per step",
        showlegend=False,
        hovertemplate=f"{where}<br>{label}: {value}<extra></extra>",
        **cell,
    )
    fig.add_scatter(
        **{"name": f"{label}, {window}-step mean", **bold},
        x=x,
        y=moving_average(y, window),
        mode="lines",
        line=dict(color=color, width=3),
        hovertemplate=f"{where}<br>{label}, {window}-step mean: {value}<extra></extra>",
    )


CURVES = (
    ("reward", "reward (accuracy + format)", "reward", None),
    ("accuracy", "accuracy", "share correct", "eval_accuracy"),
    ("reasoning_share", "share of responses that reason", "share reasoning", "eval_reasoning_share"),
    ("response_length", "response length", "tokens per response", "eval_length"),
)  # key, panel title, axis title, the held-out evaluation's key


def grpo_curves(history: Sequence[Mapping], title: str, window: int = 10) -> go.Figure:
    """Four panels over a GRPO run's steps: reward, accuracy, share reasoning, response length.

    ``history``: the records a `GRPOTrainer` writes. A training step's record has ``step`` and
    the keys of ``CURVES``: the panels show its value (faint: a step's few dozen samples are
    noisy) and the ``window``-step moving average (bold). Records with ``eval_*`` keys (the
    held-out questions, decoded greedily, every few steps and before the first) are diamonds.
    """
    keys = [key for key, _, _, _ in CURVES]
    steps = [m for m in history if all(key in m for key in keys)]
    if not steps:
        raise ValueError(f"history has no training step: no record has all the keys {keys}")
    fig = make_subplots(
        rows=2,
        cols=2,
        subplot_titles=[name for _, name, _, _ in CURVES],
        horizontal_spacing=0.1,
        vertical_spacing=0.16,
    )
    styled(fig, title, "GRPO step", "")
    x = [m["step"] for m in steps]
    for i, ((key, name, unit, eval_key), color) in enumerate(zip(CURVES, OKABE_ITO, strict=False)):
        cell = dict(row=i // 2 + 1, col=i % 2 + 1)
        values = [float(m[key]) for m in steps]
        add_smoothed(fig, x, values, name, color, window, showlegend=False, **cell)
        evals = [m for m in history if eval_key in m] if eval_key else []
        if evals:
            fig.add_scatter(
                x=[m["step"] for m in evals],
                y=[float(m[eval_key]) for m in evals],
                mode="markers",
                marker=dict(symbol="diamond", size=5, color="#000000", opacity=0.6),
                name="held-out questions, greedy",
                legendgroup="eval",
                showlegend=i == 1,
                hovertemplate=f"step %{{x}}<br>held-out {name}: %{{y:.3f}}<extra></extra>",
                **cell,
            )
        fig.update_yaxes(title_text=unit, **cell)
    fig.update_layout(
        height=int(FIGURE_HEIGHT * 1.4),
        margin=dict(t=90),
        legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.12),
    )
    return fig


COMPARED = (("pass@1", "accuracy (pass@1)"), ("reasoning_share", "share that reasons"))
Column = tuple[str, str, str]  # (section of metrics.json, key in it, label)


def metrics_table(
    metrics: Mapping[str, Mapping[str, Any]], columns: Sequence[Column]
) -> dict[str, dict[str, float]]:
    """Checkpoints side by side: name -> {label: its `metrics.json`[section][key]} for each
    (section, key, label) of ``columns``, in the order of ``metrics``. A missing value raises an
    error naming the checkpoint, the section and the key."""
    if not metrics:
        raise ValueError("metrics is empty: give checkpoint name -> its metrics.json")
    table = {}
    for name, m in metrics.items():
        for section, key, _ in columns:
            if key not in m.get(section, {}):
                raise ValueError(f"metrics[{name!r}] has no [{section!r}][{key!r}]")
        table[name] = {label: float(m[section][key]) for section, key, label in columns}
    return table


def comparison_figure(
    summaries: Mapping[str, Mapping[str, float]],
    title: str,
    shares: Sequence[tuple[str, str]] = COMPARED,
    length: str = "mean_length",
) -> go.Figure:
    """Models measured on the same questions: shares of responses side by side (left; by default
    accuracy and the share that reasons) and the mean response length in tokens (right).
    ``summaries``: model name -> `r1mini.reasoning.summarize` output, or any mapping with the
    ``shares`` keys (each shown with its label) and the ``length`` key (e.g. `metrics_table`)."""
    if not summaries:
        raise ValueError("summaries is empty: give at least one model's summarize() output")
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.62, 0.38],
        horizontal_spacing=0.14,
        subplot_titles=["accuracy and reasoning", length.replace("_", " ")],
    )
    names = list(summaries)
    for (key, label), color in zip(shares, OKABE_ITO, strict=False):
        fig.add_bar(
            x=names,
            y=[summaries[n][key] for n in names],
            name=label,
            marker_color=color,
            text=[f"{summaries[n][key]:.0%}" for n in names],
            textposition="outside",
            hovertemplate=f"%{{x}}<br>{label}: %{{y:.1%}}<extra></extra>",
            row=1,
            col=1,
        )
    lengths = [summaries[n][length] for n in names]
    fig.add_bar(
        x=names,
        y=lengths,
        name=length.replace("_", " "),
        marker_color=OKABE_ITO[len(shares) % len(OKABE_ITO)],
        text=[f"{v:.0f}" for v in lengths],
        textposition="outside",
        showlegend=False,
        row=1,
        col=2,
        hovertemplate="%{x}<br>mean length: %{y:.1f} tokens<extra></extra>",
    )
    styled(fig, title, "model", "share of responses")
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%", row=1, col=1)
    fig.update_yaxes(title_text="tokens per response", range=[0, max(lengths) * 1.2], row=1, col=2)
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.2))
    return fig
