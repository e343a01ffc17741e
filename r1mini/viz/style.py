"""Shared look of r1mini's figures, and the offline `notebook` renderer.

Colours are the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies);
heatmaps use the perceptually uniform, colour-blind-safe `cividis` scale.

Plotly's own `notebook` renderer embeds plotly.js in the notebook (good: the website needs no CDN)
but also adds a `<script src>` for MathJax from a CDN to every figure. `use_notebook_renderer()`
registers the same renderer without that script; the website brings its own MathJax.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import NotebookRenderer

from r1mini.viz.site import building_site

OKABE_ITO = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
HEATMAP_SCALE = "cividis"
FIGURE_HEIGHT = 460


class OfflineNotebookRenderer(NotebookRenderer):
    """plotly.js inline once per notebook; each figure a `<div>` and a script, nothing remote."""

    def to_mimebundle(self, fig_dict: dict) -> dict[str, str]:
        return {"text/html": figure_html(fig_dict)}


def figure_html(fig: go.Figure | dict) -> str:
    """The HTML of one figure for a page that already holds plotly.js (no CDN, no MathJax)."""
    return pio.to_html(
        fig,
        include_plotlyjs=False,
        include_mathjax=False,
        full_html=False,
        default_width="100%",
        default_height=FIGURE_HEIGHT,
        validate=False,
        auto_play=False,  # a replay waits for its reader's ▶ (and opens on its last frame)
    )


def use_notebook_renderer() -> None:
    """Make the offline `notebook` renderer the default and, in live Jupyter, embed plotly.js here,
    at once (plotly would do it lazily, at the first figure it displays itself, after any
    `Interactive` shown before it). Call it once, at the top of a chapter.

    When the website is built (`R1MINI_SITE=1`) nothing is embedded: every page of the site loads
    plotly.js once from its own files (book/vendor.sh)."""
    pio.renderers["notebook"] = OfflineNotebookRenderer()
    pio.renderers.default = "notebook"
    if building_site():
        pio.renderers._to_activate = []  # the renderer is the default; its plotly.js is the site's
    else:
        pio.renderers._activate_pending_renderers()


def styled(fig: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    """Title, axis titles (with units) and the house layout."""
    fig.update_layout(
        title=title,
        template="plotly_white",
        colorway=list(OKABE_ITO),
        height=FIGURE_HEIGHT,
        margin=dict(l=70, r=30, t=70, b=60),
        hoverlabel=dict(namelength=-1),
    )
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig
