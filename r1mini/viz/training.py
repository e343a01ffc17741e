"""Training curves: a static figure of a finished run's metric history, and `LiveCurves`, a trainer
callback that redraws the same figure while the run goes on (an ipywidgets `Output` in live
Jupyter, as `Interactive` does; the website shows the figure as it stood when the cell finished).

The trainers (`r1mini.training`) hand each step's metrics to `callback(metrics)`: a dict with `step`
and numbers (or one number per MoE layer, e.g. `load_max_over_mean`), which is all this needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from r1mini.viz.style import FIGURE_HEIGHT, OKABE_ITO
from r1mini.viz.widgets import show_figure, with_static_figure


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


def training_curves(
    history: Sequence[Mapping[str, Any]], metrics: Sequence[str], title: str = "Training"
) -> go.Figure:
    """One panel per metric against the training step, [len(metrics) rows]."""
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
        fig.update_yaxes(title_text=metric, row=row, col=1)
    fig.update_xaxes(title_text="training step", row=len(metrics), col=1)
    fig.update_layout(
        title=title, height=max(FIGURE_HEIGHT, 220 * len(metrics)), template="plotly_white"
    )
    return fig


class LiveCurves:
    """A trainer callback that plots `metrics` as the run goes: `Trainer(..., callback=curves)`.

    `every`: redraw every this many steps (redrawing costs more than a miniature training step).
    """

    def __init__(self, metrics: Sequence[str], title: str = "Training", every: int = 10) -> None:
        if every < 1:
            raise ValueError(f"every={every} must be >= 1")
        self.metrics, self.title, self.every = list(metrics), title, every
        self.history: list[dict[str, Any]] = []
        self.output = widgets.Output()

    def __call__(self, metrics: Mapping[str, Any]) -> None:
        self.history.append(dict(metrics))
        if len(self.history) % self.every == 0:
            self.redraw()

    def figure(self) -> go.Figure:
        return training_curves(self.history, self.metrics, self.title)

    def redraw(self) -> None:
        show_figure(self.output, self.figure())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return with_static_figure(self.output, self.figure(), include, exclude)
