"""Plotly figures and ipywidgets views for the chapter notebooks.

Every figure has a title, axis titles with units and hover text, in colour-blind-safe colours.
Views (`Interactive`, `InteractiveHTML`) redraw in live Jupyter and show a static figure on the
website; `LiveCurves` redraws a training run as it goes. Call `use_notebook_renderer()` once per
notebook: plotly.js goes inline, nothing loads from a CDN.

Exported here: what several chapters share. The figures of one chapter live in its own module and
are imported from there: `pretraining` (04), `grpo` (05), `r1_zero` (06), `r1_pipeline` (07),
`generation` (08), `distillation` (09), `kernels` (10), `deployment` (11).
"""

from r1mini.accounting import human  # sizes in figure labels: 1.23 M, 70.27 KB
from r1mini.viz.architecture import layer_parameters, parameter_breakdown, parameter_view
from r1mini.viz.attention import (
    attention_heatmap,
    attention_view,
    kv_cache_figure,
    kv_cache_per_token,
    kv_cache_view,
)
from r1mini.viz.exercises import check
from r1mini.viz.moe import (
    expert_load_bars,
    group_routing_figure,
    imbalance,
    load_balance_figure,
    routing_heatmap,
    routing_matrix,
)
from r1mini.viz.reasoning import (
    StreamView,
    comparison_figure,
    grpo_curves,
    response_html,
    split_response,
)
from r1mini.viz.style import OKABE_ITO, figure_html, use_notebook_renderer
from r1mini.viz.training import LiveCurves, training_curves
from r1mini.viz.widgets import Interactive, InteractiveHTML

__all__ = [
    "OKABE_ITO",
    "Interactive",
    "InteractiveHTML",
    "LiveCurves",
    "StreamView",
    "attention_heatmap",
    "attention_view",
    "check",
    "comparison_figure",
    "expert_load_bars",
    "figure_html",
    "group_routing_figure",
    "grpo_curves",
    "human",
    "imbalance",
    "kv_cache_figure",
    "kv_cache_per_token",
    "kv_cache_view",
    "layer_parameters",
    "load_balance_figure",
    "parameter_breakdown",
    "parameter_view",
    "response_html",
    "routing_heatmap",
    "routing_matrix",
    "split_response",
    "training_curves",
    "use_notebook_renderer",
]
