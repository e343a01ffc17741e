"""Chapter 11 figures: what serving the 671B model takes (V3 paper §3.4): memory for weights and KV
cache, the decoding roofline, and expert parallelism replayed on a real model's routing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from r1mini.accounting import human
from r1mini.config import ModelConfig
from r1mini.deployment import (
    Hardware,
    Precision,
    decode_step,
    memory_plan,
    place_experts,
    simulate_expert_parallel,
)
from r1mini.viz.style import HEATMAP_SCALE, OKABE_ITO, styled
from r1mini.viz.widgets import Interactive

CACHE_LABELS = {  # the caches drawn (naive MLA caches what MHA with V3's heads caches)
    "absorbed_mla": "MLA, absorbed (latent cache)",
    "naive_mla": "MLA, naive (expanded K, V)",
    "mha": "equivalent MHA",
}
PLACEMENTS = {  # label -> (scheme, redundant copies per device) for `place_experts`
    "by group": ("contiguous", 0),
    "round-robin": ("round_robin", 0),
    "balanced by load": ("balanced", 0),
    "balanced + 1 redundant": ("balanced", 1),
}
CONTEXTS = (1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 163840)


def _tokens(n: float) -> str:
    return f"{n / 1024:,.0f}K" if n >= 1024 else f"{n:,.0f}"


def memory_figure(
    config: ModelConfig,
    n_gpus: int = 8,
    memory_gb: float = 141,
    batch: int = 32,
    context: int = 32768,
    precision: Precision = "fp8",
) -> go.Figure:
    """Memory that weights plus the KV cache of `batch` sequences need, against context length, for
    each cache kind, beside what `n_gpus` GPUs of `memory_gb` hold (`memory_plan`)."""
    contexts = np.unique(np.geomspace(256, config.max_seq_len, 60).astype(int))
    fig = go.Figure()
    plans = {}
    for kind, color in zip(CACHE_LABELS, OKABE_ITO, strict=False):
        plan = memory_plan(config, n_gpus, memory_gb * 1e9, batch, context, precision, kind)
        plans[kind] = plan
        needed = (plan.weight_bytes + batch * contexts * plan.kv_bytes_per_token) / 1e9
        fig.add_scatter(
            x=contexts,
            y=needed,
            mode="lines",
            name=f"{CACHE_LABELS[kind]}: {human(plan.kv_bytes_per_token, 'B')}/token",
            line=dict(color=color, width=3),
            hovertemplate=(
                f"{CACHE_LABELS[kind]}<br>{batch} × %{{x:,}} tokens<br>weights + cache: "
                "%{y:,.0f} GB<extra></extra>"
            ),
        )
        fig.add_scatter(
            x=[context],
            y=[plan.needed_bytes / 1e9],
            mode="markers",
            marker=dict(color=color, size=12, symbol="circle" if plan.fits else "x"),
            showlegend=False,
            hovertemplate=(
                f"{CACHE_LABELS[kind]} at {batch} × {context:,} tokens<br>"
                f"needs {plan.needed_bytes / 1e9:,.0f} GB: {'fits' if plan.fits else 'does not fit'}"
                f"<br>longest context at batch {batch}: {plan.max_context:,} tokens<extra></extra>"
            ),
        )
    plan = plans["absorbed_mla"]
    fig.add_hline(
        y=plan.total_bytes / 1e9,
        line_color="black",
        line_width=2,
        annotation_text=f"{n_gpus} GPUs × {memory_gb:g} GB",
        annotation_position="top left",
    )
    fig.add_hline(
        y=plan.weight_bytes / 1e9,
        line_dash="dot",
        line_color="#666",
        annotation_text=f"{precision} weights",
        annotation_position="bottom right",
    )
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    if plan.free_bytes <= 0:
        verdict = f"the {precision} weights alone do not fit"
    else:
        fits = ", ".join(
            f"{short} {_tokens(p.max_context)}"
            if p.max_context < config.max_seq_len
            else f"{short} all {_tokens(config.max_seq_len)} (the config's max_seq_len)"
            for short, p in (("MLA", plan), ("MHA", plans["mha"]))
        )
        verdict = f"longest context per sequence at batch {batch}: {fits}"
    return styled(
        fig,
        f"{config.name} on {n_gpus} × {memory_gb:g} GB: {verdict}",
        "context length per sequence (tokens)",
        "weights + KV cache (GB, log scale)",
    )


def memory_view(config: ModelConfig) -> Interactive:
    """The memory calculator: GPUs, GB per GPU, batch, context and weight precision."""
    return Interactive(
        lambda n_gpus, memory_gb, batch, context, precision: memory_figure(
            config, n_gpus, memory_gb, batch, context, precision
        ),
        # the website's states: its main knobs (the figure spans every context anyway)
        site_values={"n_gpus": [8, 16], "memory_gb": [80, 141], "batch": [1, 32, 256], "context": [32768]},
        n_gpus=widgets.IntSlider(value=8, min=1, max=64, description="GPUs"),
        memory_gb=widgets.IntSlider(value=141, min=16, max=256, description="GB / GPU"),
        batch=widgets.IntSlider(value=32, min=1, max=256, description="batch"),
        context=widgets.SelectionSlider(
            options=[(_tokens(c), c) for c in CONTEXTS], value=32768, description="context"
        ),
        precision=widgets.Dropdown(options=["fp8", "bf16"], value="fp8", description="weights"),
    )


def roofline_figure(
    config: ModelConfig,
    hardware: Sequence[Hardware],
    contexts: Sequence[int] = (4096, 32768),
    precision: Precision = "fp8",
    batches: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
) -> go.Figure:
    """Arithmetic intensity of one decoding step (`decode_step`) against batch size, beside each
    accelerator's ridge point: below its line, a step waits on memory. The title names the first
    batch at which each context reaches each ridge, or says that none does."""
    fig = go.Figure()
    dashes = ("solid", "dash", "dot", "dashdot")
    crossings = []
    for context, dash in zip(contexts, dashes, strict=False):
        steps = [decode_step(config, b, context, precision) for b in batches]
        for hw in hardware:
            first = next(
                (b for b, s in zip(batches, steps, strict=True) if s["intensity"] >= hw.ridge(precision)),
                None,
            )
            if first is not None:
                crossings.append(f"{_tokens(context)} context reaches the {hw.name} ridge at batch {first}")
        fig.add_scatter(
            x=list(batches),
            y=[s["intensity"] for s in steps],
            mode="lines+markers",
            name=f"decode step, {_tokens(context)} context",
            line=dict(color=OKABE_ITO[0], width=3, dash=dash),
            customdata=[[s["flops"] / 1e12, s["bytes"] / 1e9] for s in steps],
            hovertemplate=(
                f"{_tokens(context)} context, batch %{{x}}<br>%{{y:.1f}} FLOP/byte<br>"
                "%{customdata[0]:,.2f} TFLOP over %{customdata[1]:,.0f} GB<extra></extra>"
            ),
        )
    for hw, color in zip(hardware, OKABE_ITO[1:], strict=False):
        ridge = hw.ridge(precision)
        fig.add_scatter(
            x=[batches[0], batches[-1]],
            y=[ridge, ridge],
            mode="lines",
            name=f"{hw.name} ridge, {precision}: {ridge:.0f} FLOP/byte",
            line=dict(color=color, width=2),
            hovertemplate=(
                f"{hw.name}: {hw.flops(precision) / 1e12:,.0f} TFLOP/s ÷ {hw.bandwidth_tb_s} TB/s"
                f" = {ridge:.0f} FLOP/byte<extra></extra>"
            ),
        )
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    verdict = "; ".join(crossings) or f"below every ridge up to batch {batches[-1]}, memory-bound"
    return styled(
        fig,
        f"{config.name}, one decoding step: {verdict}",
        "batch (sequences decoded together)",
        "arithmetic intensity (FLOP per byte of GPU memory traffic, log)",
    )


def placement_figure(
    ids: torch.Tensor, home: torch.Tensor, placement: list[list[int]], title: str
) -> go.Figure:
    """Left: the (token, expert) pairs each device computes, stacked by expert. Right: copies of
    tokens dispatched from their home device (row) to the devices of their experts (column)."""
    result = simulate_expert_parallel(ids, home, placement)
    n_devices = len(placement)
    names = [f"device {d}" for d in range(n_devices)]
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.58, 0.42],
        horizontal_spacing=0.14,
        subplot_titles=("work per device", "dispatched copies: home → expert's device"),
    )
    n_experts = result.pairs.shape[1]
    copies = [sum(e in experts for experts in placement) for e in range(n_experts)]
    for e in range(n_experts):
        fig.add_bar(
            x=names,
            y=result.pairs[:, e].tolist(),
            name=f"expert {e}" + (f" ({copies[e]} copies)" if copies[e] > 1 else ""),
            marker_color=OKABE_ITO[e % len(OKABE_ITO)],
            marker_pattern_shape="/" if e >= len(OKABE_ITO) else "",
            hovertemplate=f"expert {e} on %{{x}}: %{{y:,}} tokens<extra></extra>",
            row=1,
            col=1,
        )
    mean = float(result.load.float().mean())
    fig.add_hline(y=mean, line_dash="dot", annotation_text="mean", row=1, col=1)
    fig.add_heatmap(
        z=result.traffic.numpy(),
        x=names,
        y=names,
        colorscale=HEATMAP_SCALE,
        zmin=0,
        zmax=max(1, int(result.traffic.max())),
        colorbar=dict(title="copies"),
        hovertemplate="from %{y} to %{x}: %{z:,} copies<extra></extra>",
        row=1,
        col=2,
    )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(autorange="reversed", row=1, col=2)
    fig = styled(
        fig,
        f"{title}: busiest device {result.imbalance:.2f}× the mean, "
        f"{result.remote_share:.0%} of copies cross devices",
        "device",
        "(token, expert) pairs computed",
    )
    fig.update_xaxes(title_text="expert's device", row=1, col=2)
    fig.update_yaxes(title_text="token's home device", row=1, col=2)
    fig.update_layout(legend=dict(orientation="h", y=-0.22, x=0), margin=dict(b=110))
    return fig


def placement_view(
    layer_ids: Mapping[int, torch.Tensor], sequence: torch.Tensor, n_experts: int
) -> Interactive:
    """Place a layer's experts on 2 or 4 devices and replay its recorded routing.

    layer_ids: MoE layer -> [N, k] expert ids of N real tokens; sequence: [N] the batch row each
    token belongs to (rows are split evenly over the devices, as data-parallel attention would).
    Balanced placements use the same tokens' load (V3 uses statistics from its online service,
    refreshed periodically, §3.4.1)."""
    rows = int(sequence.max()) + 1

    def build(layer: int, n_devices: int, placement: str) -> go.Figure:
        ids = layer_ids[layer]
        load = torch.bincount(ids.flatten(), minlength=n_experts).float()
        scheme, redundant = PLACEMENTS[placement]
        experts = place_experts(n_experts, n_devices, scheme, load, redundant)
        home = sequence * n_devices // rows  # [N]
        return placement_figure(ids, home, experts, f"layer {layer}, {n_devices} devices, {placement}")

    return Interactive(
        build,
        layer=widgets.Dropdown(options=list(layer_ids), description="layer"),
        n_devices=widgets.Dropdown(options=[2, 4], value=4, description="devices"),
        placement=widgets.Dropdown(options=list(PLACEMENTS), description="placement"),
    )


def step_imbalance_figure(curves: Mapping[str, Sequence[float]], overall: Mapping[str, float]) -> go.Figure:
    """Busiest device over the mean device at each decoding step (one token per sequence), per
    placement, with the imbalance of all the steps' tokens pooled (dotted)."""
    fig = go.Figure()
    for (name, values), color in zip(curves.items(), OKABE_ITO, strict=False):
        fig.add_scatter(
            x=list(range(1, len(values) + 1)),
            y=list(values),
            mode="lines",
            name=name,
            line=dict(color=color, width=2),
            hovertemplate=f"{name}<br>step %{{x}}: busiest/mean %{{y:.2f}}<extra></extra>",
        )
        fig.add_scatter(
            x=[1, len(values)],
            y=[overall[name]] * 2,
            mode="lines",
            name=f"{name}, all steps pooled",
            line=dict(color=color, width=2, dash="dot"),
            hovertemplate=f"{name}, pooled over all steps: %{{y:.2f}}<extra></extra>",
        )
    fig.add_hline(y=1.0, line_color="#999", annotation_text="perfect balance")
    return styled(
        fig,
        "Device imbalance step by step: each decoding step waits for its busiest device",
        "decoding step (one new token per sequence)",
        "busiest / mean device load (ratio)",
    )


def expert_parallel_figure(runs: Sequence[Mapping], layer: int = 0) -> go.Figure:
    """A live expert-parallel run (`r1mini.parallel.measure_expert_parallel`): in MoE layer `layer`,
    the (token, expert) pairs each expert computed, coloured by the process that holds it."""
    fig = go.Figure()
    for run, color in zip(runs, OKABE_ITO, strict=False):
        fig.add_bar(
            x=[f"e{e}" for e in run["experts"]],
            y=run["load"][layer],
            name=f"process {run['rank']}",
            marker_color=color,
            hovertemplate=f"process {run['rank']}<br>expert %{{x}}: %{{y:.0f}} pairs<extra></extra>",
        )
    return styled(
        fig,
        f"Expert parallel, measured: MoE layer {layer}'s experts over {len(runs)} processes",
        "routed expert (held by one process)",
        "(token, expert) pairs computed",
    )
