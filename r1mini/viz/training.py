"""Training curves: a static figure of a finished run's metric history, and `LiveCurves`, a trainer
callback that redraws a figure of the run in one output while it goes on.

`LiveCurves.show()` displays the figure with an IPython display id and every redraw replaces it in
place: live Jupyter sees the curves grow; the website shows the finished run with a step slider
and a play button over the drawings made along the way (`r1mini.viz.replay.animated_figure`).

The trainers (`r1mini.training`) hand each step's metrics to `callback(metrics)`: a dict with `step`
and numbers (or one number per MoE layer, e.g. `load_max_over_mean`), which is all this needs.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from IPython.display import HTML, display
from plotly.subplots import make_subplots

from r1mini.viz.replay import animated_figure
from r1mini.viz.site import building_site
from r1mini.viz.style import FIGURE_HEIGHT, OKABE_ITO, figure_html


def _series(history: Sequence[Mapping[str, Any]], metric: str) -> dict[str, tuple[list, list]]:
    """name -> (steps, values) for `metric`: one series, or one per layer for per-layer lists."""
    series: dict[str, tuple[list, list]] = {}
    for record in history:
        value = record.get(metric)
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        for i, v in enumerate(values):
            name = f"{metric} (MoE layer {i})" if isinstance(value, list | tuple) else metric
            steps, ys = series.setdefault(name, ([], []))
            steps.append(record["step"])
            ys.append(float(v))
    return series


# the unit of each metric the trainers report whose name does not say it (y-axis titles)
UNITS = {
    "ce": "nats per token",
    "mtp_loss": "nats per token",
    "kl": "nats per token",
    "response_length": "tokens",
    "accuracy": "share of responses",
    "reasoning_share": "share of responses",
    "load_max_over_mean": "busiest ÷ mean load",
}


def training_curves(
    history: Sequence[Mapping[str, Any]],
    metrics: Sequence[str],
    title: str = "Training",
    units: Mapping[str, str] | None = None,
) -> go.Figure:
    """One panel per metric against the training step, [len(metrics) rows]. Each y axis is titled
    with the metric and its unit, from `units` (e.g. {"loss": "nats per token"}) or `UNITS`."""
    units = {**UNITS, **(units or {})}
    if not metrics:
        raise ValueError("training_curves needs at least one metric name")
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, subplot_titles=list(metrics))
    for row, metric in enumerate(metrics, start=1):
        for i, (name, (steps, ys)) in enumerate(_series(history, metric).items()):
            fig.add_scatter(
                x=steps,
                y=ys,
                name=name,
                mode="lines",
                line={"color": OKABE_ITO[i % len(OKABE_ITO)]},
                hovertemplate=f"{name}<br>step %{{x}}: %{{y:.4g}}<extra></extra>",
                row=row,
                col=1,
            )
        unit = units.get(metric)
        fig.update_yaxes(title_text=f"{metric} ({unit})" if unit else metric, row=row, col=1)
    fig.update_xaxes(title_text="training step", row=len(metrics), col=1)
    fig.update_layout(title=title, height=max(FIGURE_HEIGHT, 220 * len(metrics)), template="plotly_white")
    return fig


class LiveCurves:
    """A trainer callback that plots the run as it goes: `Trainer(..., callback=curves.show())`.

    By default the figure is `training_curves(history, metrics, title, units)`; `build(history) -> Figure`
    draws any other figure of the records so far instead. `every`: redraw every this many steps
    (redrawing costs more than a miniature training step). `show()` displays the figure (a
    placeholder until the first step); `redraw()` redraws now, e.g. after the last step.
    """

    def __init__(
        self,
        metrics: Sequence[str] = (),
        title: str = "Training",
        every: int = 10,
        build: Callable[[list[dict[str, Any]]], go.Figure] | None = None,
        units: Mapping[str, str] | None = None,
    ) -> None:
        if every < 1:
            raise ValueError(f"every={every} must be >= 1 (steps between redraws)")
        if build is None and not metrics:
            raise ValueError("LiveCurves needs metric names to plot, or a `build` function")
        self.metrics, self.title, self.every, self.build = list(metrics), title, every, build
        self.units = units
        self.history: list[dict[str, Any]] = []
        self.frames: list[tuple[int, go.Figure]] = []  # (steps, figure) at each redraw, for the website
        self.handle: Any = None

    def __call__(self, metrics: Mapping[str, Any]) -> None:
        self.history.append(dict(metrics))
        if len(self.history) % self.every == 0:
            self.redraw()

    def figure(self) -> go.Figure:
        """The figure of the records so far."""
        if self.build is not None:
            return self.build(self.history)
        return training_curves(self.history, self.metrics, self.title, self.units)

    def show(self) -> LiveCurves:
        """Display the figure now and let every redraw replace it in place; returns self."""
        self.handle = display(self._html(), display_id=True)
        return self

    def redraw(self) -> None:
        if self.handle is None:
            return
        if building_site() and self.history:  # the website replays the run, one frame per redraw
            self.frames.append((len(self.history), self.figure()))
            figures, steps = [f for _, f in self.frames], [n for n, _ in self.frames]
            self.handle.update(HTML(figure_html(animated_figure(figures, steps))))
        else:
            self.handle.update(self._html())

    def _html(self) -> HTML:
        if not self.history:
            return HTML(f"<i>{html.escape(self.title)}: waiting for the first step…</i>")
        return HTML(figure_html(self.figure()))
