"""Chapter 01 figures: where a model's parameters live (V3 paper §1, Table 1; §2 Figure 2)."""

from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go

from r1mini.accounting import COMPONENTS, count_parameters, human
from r1mini.config import ModelConfig
from r1mini.viz.style import OKABE_ITO, styled
from r1mini.viz.widgets import Interactive

COMPONENT_LABELS = {
    "embedding": "embedding",
    "attention": "attention (MLA)",
    "norms": "RMSNorms",
    "dense_mlp": "dense FFNs",
    "gates": "routers (gates)",
    "shared_experts": "shared experts",
    "routed_experts": "routed experts",
    "head": "output head",
}


def parameter_breakdown(config: ModelConfig) -> go.Figure:
    """Sunburst: the model's parameters by component (`count_parameters`, MTP excluded); the routed
    experts split into the `K_r/N_r` share one token activates and the rest, idle for that token."""
    counts = count_parameters(config)
    total = counts["total"]
    root = f"{config.name}<br>{human(total)} parameters"
    ids, labels, parents, values, colors = [root], [root], [""], [total], ["#FFFFFF"]
    for part, color in zip(COMPONENTS, OKABE_ITO, strict=True):
        n = counts["breakdown"][part]
        if n == 0:
            continue
        ids.append(part)
        labels.append(COMPONENT_LABELS[part])
        parents.append(root)
        values.append(n)
        colors.append(color)
    routed = counts["breakdown"]["routed_experts"]
    if routed:
        active = counts["activated_breakdown"]["routed_experts"]
        for name, n in (("activated per token", active), ("idle for that token", routed - active)):
            ids.append(f"routed_experts/{name}")
            labels.append(name)
            parents.append("routed_experts")
            values.append(n)
            colors.append("#8C6D00" if name.startswith("activated") else "#BBBBBB")
    hover = [f"{human(v)} parameters<br>{v:,}<br>{v / total:.1%} of the total" for v in values]
    fig = go.Figure(
        go.Sunburst(
            ids=ids,
            labels=labels,
            parents=parents,
            values=values,
            branchvalues="total",
            marker=dict(colors=colors, line=dict(color="white", width=1)),
            hovertext=hover,
            hovertemplate="<b>%{label}</b><br>%{hovertext}<extra></extra>",
            insidetextorientation="radial",
        )
    )
    title = (
        f"Where {config.name}'s {human(total)} parameters live "
        f"({human(counts['activated'])} activated per token)"
    )
    styled(fig, title, "", "")
    fig.update_layout(height=560, margin=dict(l=10, r=10, t=60, b=10))
    return fig


def layer_parameters(config: ModelConfig) -> go.Figure:
    """Stacked bars: total vs activated parameters per block type, in billions / millions."""
    counts = count_parameters(config)
    parts = [p for p in COMPONENTS if counts["breakdown"][p]]
    fig = go.Figure()
    for part, color in zip(COMPONENTS, OKABE_ITO, strict=True):
        if part not in parts:
            continue
        n = counts["breakdown"][part]
        active = counts["activated_breakdown"][part]
        fig.add_bar(
            name=COMPONENT_LABELS[part],
            x=["stored (total)", "used by one token (activated)"],
            y=[n, active],
            marker_color=color,
            hovertemplate=f"{COMPONENT_LABELS[part]}: %{{y:,}} parameters<extra></extra>",
        )
    fig.update_layout(barmode="stack")
    return styled(
        fig,
        f"{config.name}: parameters stored vs parameters one token uses",
        "the whole model (main stack, MTP excluded)",
        "parameters (count)",
    )


def parameter_view(preset: str = "deepseek-v3-671b") -> Interactive:
    """The parameter sunburst for any preset, picked from a dropdown."""
    choose = widgets.Dropdown(options=ModelConfig.preset_names(), value=preset, description="preset")
    return Interactive(lambda preset: parameter_breakdown(ModelConfig.preset(preset)), preset=choose)
