"""Replays for the website: what live Jupyter shows as it happens, as a plotly animation the reader
plays, pauses and scrubs (plotly's own frames, play/pause buttons and slider; no kernel).

* `animated_figure`: a training run's curves at each redraw (`LiveCurves` keeps them), or any
  sequence of figures with the same traces;
* `stream_figure`: responses as they were generated token by token (`StreamView` records them),
  the thinking dimmed and the answer bold, as in Jupyter.

Both open on the last frame (the finished run, the whole responses), so the page reads as it
did before anyone presses play.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from r1mini.viz.site import compact
from r1mini.viz.style import FIGURE_HEIGHT

MAX_FRAMES = 60  # frames per animation: evenly spread when there are more, the last always kept
FRAME_MS = 120
PART_COLORS = {"thinking": "#5f5f5f", "answer": "#000000"}


def spread(count: int, keep: int = MAX_FRAMES) -> list[int]:
    """At most `keep` of the indices 0..count-1, evenly spread, the last included."""
    if count <= keep:
        return list(range(count))
    step = (count - 1) / (keep - 1)
    return sorted({round(i * step) for i in range(keep)})


def _controls(names: Sequence[str], prefix: str) -> dict[str, Any]:
    """Play/pause buttons and a slider over the frames `names` (the last one active)."""
    play = {
        "frame": {"duration": FRAME_MS, "redraw": True},
        "fromcurrent": True,
        "transition": {"duration": 0},
    }
    pause = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate", "transition": {"duration": 0}}
    return {
        "updatemenus": [
            {
                "type": "buttons",
                "direction": "left",
                "showactive": False,
                "x": 0,
                "xanchor": "left",
                "y": 0,
                "yanchor": "top",
                "pad": {"t": 50, "r": 10},
                "buttons": [
                    {"label": "▶ play", "method": "animate", "args": [None, play]},
                    {"label": "❚❚ pause", "method": "animate", "args": [[None], pause]},
                ],
            }
        ],
        "sliders": [
            {
                "active": len(names) - 1,
                "x": 0,
                "len": 1,
                "y": 0,
                "yanchor": "top",
                "pad": {"t": 100},  # under the buttons
                "currentvalue": {"prefix": prefix},
                "transition": {"duration": 0},
                "steps": [
                    {
                        "label": name,
                        "method": "animate",
                        "args": [
                            [name],
                            {**pause, "mode": "afterall", "frame": {"duration": 0, "redraw": True}},
                        ],
                    }
                    for name in names
                ],
            }
        ],
    }


def animated_figure(figures: Sequence[go.Figure], labels: Sequence[str], prefix: str = "step ") -> go.Figure:
    """One figure whose frames are `figures` (same traces, growing data), named by `labels`."""
    if not figures or len(figures) != len(labels):
        raise ValueError(f"animated_figure: {len(figures)} figures for {len(labels)} labels")
    keep = spread(len(figures))
    frames = []
    for i in keep:
        layout = figures[i].layout.to_plotly_json()
        patch = {
            k: v
            for k, v in layout.items()
            if k in ("title", "annotations", "shapes") or k.startswith("xaxis")
        }
        frames.append(go.Frame(data=[compact(t) for t in figures[i].data], layout=patch, name=str(labels[i])))
    last = figures[keep[-1]]
    result = go.Figure(data=[compact(t) for t in last.data], layout=last.layout, frames=frames)
    result.update_layout(**_controls([str(labels[i]) for i in keep], prefix))
    result.update_layout(height=(last.layout.height or FIGURE_HEIGHT) + 150, margin={"b": 210})
    return result


def _card_text(label: str, pieces: Sequence[tuple[str, str]], note: str) -> str:
    """One column as plotly annotation HTML: its label, the pieces coloured by part, its note."""
    body = "".join(
        f'<span style="color:{PART_COLORS[part]}">{html.escape(piece).replace(chr(10), "<br>")}</span>'
        for piece, part in pieces
    )
    foot = f"<br><i>{html.escape(note)}</i>" if note else ""
    return f'<b><span style="color:#0072B2">{html.escape(label)}</span></b><br>{body}{foot}'


def stream_figure(
    labels: Sequence[str],
    events: Sequence[tuple[int, str, str]],
    step_ends: Sequence[int],
    notes: Sequence[str],
) -> go.Figure:
    """Responses replayed token by token: `events` (column, piece, part) in the order generated,
    `step_ends[s]` the number of events after generation step s; `notes` under each column at the
    end. Frame s shows every column as it stood after step s."""
    columns = len(labels)
    lines = max([1, *(sum(p.count("\n") for c, p, _ in events if c == col) + 3 for col in range(columns))])

    def layout_at(end: int, final: bool) -> dict[str, Any]:
        annotations = []
        for col in range(columns):
            pieces = [(piece, part) for c, piece, part in events[:end] if c == col]
            annotations.append(
                {
                    "text": _card_text(labels[col], pieces, notes[col] if final else ""),
                    "x": (col + 0.02) / columns,
                    "y": 1,
                    "xref": "paper",
                    "yref": "paper",
                    "xanchor": "left",
                    "yanchor": "top",
                    "align": "left",
                    "showarrow": False,
                    "font": {"family": "monospace", "size": 12},
                    "bordercolor": "#bbbbbb",
                    "borderwidth": 1,
                    "borderpad": 6,
                    "bgcolor": "#ffffff",
                }
            )
        return {"annotations": annotations}

    ends = [0, *step_ends]
    names = [f"{s}" for s in range(len(ends))]
    keep = spread(len(ends))
    blank = [go.Scatter(x=[0], y=[0], visible=False)]  # a figure needs a trace; the text is the layout
    frames = [
        go.Frame(data=blank, layout=layout_at(ends[i], i == len(ends) - 1), name=names[i]) for i in keep
    ]
    fig = go.Figure(data=blank, frames=frames)
    fig.update_layout(layout_at(ends[-1], True))
    fig.update_layout(
        template="plotly_white",
        xaxis={"visible": False},
        yaxis={"visible": False},
        height=lines * 17 + 250,
        margin={"t": 50, "b": 190, "l": 10, "r": 10},
        title={
            "text": "Token by token, as generated: press ▶ to replay, or drag the slider",
            "font": {"size": 14},
        },
    )
    fig.update_layout(**_controls([names[i] for i in keep], "tokens generated: "))
    return fig
