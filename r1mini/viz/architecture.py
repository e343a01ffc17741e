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


def dimension_table(config: ModelConfig) -> list[tuple[str, str, str]]:
    """Every size of `config` that the V3 paper's §2 and §4.3 name, as (what, value, where in
    `ModelConfig`) rows: vocabulary, widths, heads and MLA ranks, head dimensions, experts and
    routing, context. Each value is read (or derived) from the config."""
    c = config
    experts = (
        f"{c.n_routed_experts} routed + {c.n_shared_experts} shared" if c.n_moe_layers else "none (dense)"
    )
    context = f"{c.max_seq_len:,} tokens"
    if c.uses_yarn:
        context += f" (pre-trained at {c.original_seq_len:,}, YaRN ×{c.rope_factor:g})"
    return [
        ("vocabulary", f"{c.vocab_size:,}", "vocab_size"),
        ("width d (residual stream)", f"{c.dim:,}", "dim"),
        (
            "blocks: dense + MoE",
            f"{c.n_layers} = {c.n_dense_layers} + {c.n_moe_layers}",
            "n_layers, n_dense_layers",
        ),
        ("dense FFN hidden width", f"{c.inter_dim:,}", "inter_dim"),
        ("expert FFN hidden width", f"{c.moe_inter_dim:,}", "moe_inter_dim"),
        ("attention heads", f"{c.n_heads}", "n_heads"),
        ("query compression rank d'_c", f"{c.q_lora_rank:,}" if c.q_lora_rank else "none", "q_lora_rank"),
        ("KV compression rank d_c (cached)", f"{c.kv_lora_rank:,}", "kv_lora_rank"),
        (
            "per head: key = nope + rope, value",
            f"{c.qk_head_dim} = {c.qk_nope_head_dim} + {c.qk_rope_head_dim}, {c.v_head_dim}",
            "qk_nope_head_dim, qk_rope_head_dim, v_head_dim",
        ),
        ("experts per MoE block", experts, "n_routed_experts, n_shared_experts"),
        (
            "routing: top-k of groups",
            f"top-{c.n_activated_experts} in the best {c.n_limited_groups} of {c.n_expert_groups} groups",
            "n_activated_experts, n_limited_groups, n_expert_groups",
        ),
        ("gate: score, route scale", f"{c.score_func}, ×{c.route_scale:g}", "score_func, route_scale"),
        ("context", context, "max_seq_len, original_seq_len, rope_factor"),
        ("multi-token prediction depth D", f"{c.n_mtp_layers}", "n_mtp_layers"),
    ]


def dimension_figure(config: ModelConfig) -> go.Figure:
    """`dimension_table(config)` as a table figure."""
    rows = dimension_table(config)
    columns = [list(column) for column in zip(*rows, strict=True)]
    fig = go.Figure(
        go.Table(
            header=dict(values=["what", "value", "ModelConfig field"], align="left", fill_color="#E8EEF4"),
            cells=dict(values=columns, align="left", height=26),
            columnwidth=[3, 4, 4],
        )
    )
    fig.update_layout(
        title=f"{config.name}: every size, read from ModelConfig", margin=dict(l=20, r=20, t=60, b=10)
    )
    return fig


def dimension_view(preset: str = "deepseek-v3-671b") -> Interactive:
    """The dimension table of a preset picked from a dropdown (the website shows `preset`)."""
    menu = widgets.Dropdown(options=ModelConfig.preset_names(), value=preset, description="preset")
    return Interactive(lambda name: dimension_figure(ModelConfig.preset(name)), name=menu)
