"""Chapter 02 figures: the KV cache MLA saves (V3 paper §2.1.1) and attention maps of a live model."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import torch

from r1mini.accounting import human, kv_cache_bytes_per_token
from r1mini.config import ModelConfig
from r1mini.viz.style import HEATMAP_SCALE, OKABE_ITO, styled
from r1mini.viz.widgets import Interactive

GIB = 2**30


def kv_cache_per_token(config: ModelConfig, gqa_groups: int, bytes_per_element: int = 2) -> dict:
    """Bytes one token's keys and values cost across all layers, per attention design.

    MHA caches `2·H·d_v` numbers per layer (keys as wide as values: the usual baseline, DeepSeek-V2
    Table 1); MHA with V3's own heads, keys `nope + rope` wide, `H·(d_qk + d_v)`, which is what naive
    MLA caches; GQA with `g` key/value heads `2·g·d_v` (its queries share them in groups of `H/g`);
    MLA its latent `d_c + d_h^R` (`kv_cache_bytes_per_token`).
    """
    if not 1 <= gqa_groups <= config.n_heads or config.n_heads % gqa_groups:
        raise ValueError(f"gqa_groups={gqa_groups} must divide n_heads={config.n_heads} (1 = MQA, H = MHA)")
    kv = kv_cache_bytes_per_token(config, bytes_per_element)
    return {
        "MHA": kv["mha"],
        f"MHA, keys {config.qk_head_dim} wide (= naive MLA)": kv["mha_v3_heads"],
        f"GQA ({gqa_groups} KV heads)": kv["mha"] * gqa_groups // config.n_heads,
        "MLA (latent cache)": kv["absorbed_mla"],
    }


def kv_cache_figure(
    config: ModelConfig, gqa_groups: int = 8, batch: int = 1, bytes_per_element: int = 2
) -> go.Figure:
    """KV-cache GiB vs context length, MHA vs GQA vs MLA, for `batch` sequences."""
    per_token = kv_cache_per_token(config, gqa_groups, bytes_per_element)
    contexts = np.unique(np.geomspace(256, config.max_seq_len, 40).astype(int))
    fig = go.Figure()
    for (name, nbytes), color in zip(per_token.items(), OKABE_ITO, strict=False):
        gib = contexts * nbytes * batch / GIB
        fig.add_scatter(
            x=contexts,
            y=gib,
            name=f"{name}: {human(nbytes, 'B')}/token",
            mode="lines",
            line=dict(color=color, width=3),
            hovertemplate=f"{name}<br>%{{x:,}} tokens: %{{y:,.3f}} GiB<extra></extra>",
        )
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return styled(
        fig,
        f"{config.name}: KV cache for {batch} sequence(s), bf16",
        "context length (tokens)",
        "KV cache (GiB)",
    )


def kv_cache_view(preset: str = "deepseek-v3-671b") -> Interactive:
    """Pick a preset, the GQA group count (a divisor of the heads) and the batch size."""
    heads = ModelConfig.preset(preset).n_heads
    groups = widgets.SelectionSlider(
        options=[g for g in range(1, heads + 1) if heads % g == 0],
        value=8 if heads % 8 == 0 else 1,
        description="GQA groups",
    )
    batch = widgets.IntSlider(value=1, min=1, max=64, description="batch")
    return Interactive(
        lambda gqa_groups, batch: kv_cache_figure(ModelConfig.preset(preset), gqa_groups, batch),
        gqa_groups=groups,
        batch=batch,
    )


def attention_heatmap(
    probs: torch.Tensor, tokens: Sequence[str], head: int = 0, title: str = ""
) -> go.Figure:
    """One head's attention: probs [H, T, S] (or [1, H, T, S]) over the token strings."""
    if probs.dim() == 4:
        probs = probs[0]
    if not 0 <= head < probs.shape[0]:
        raise ValueError(f"head={head} must lie in [0, {probs.shape[0]})")
    z = probs[head].float().cpu().numpy()  # [T, S]
    labels = [f"{i}:{t!r}" for i, t in enumerate(tokens)]
    if len(labels) != z.shape[1]:
        raise ValueError(f"{len(labels)} tokens for {z.shape[1]} attended positions")
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels[-z.shape[0] :],
            colorscale=HEATMAP_SCALE,
            zmin=0,
            zmax=float(z.max()),
            colorbar=dict(title="probability"),
            hovertemplate="query %{y}<br>key %{x}<br>p = %{z:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return styled(
        fig,
        title or f"attention of head {head}",
        "key position: token (attended to)",
        "query position: token (attending)",
    )


def attention_view(records: list[dict], tokens: Sequence[str], layer: int = 0, head: int = 0) -> Interactive:
    """Attention maps of every layer and head recorded by `model.recording()`, starting at (and shown
    on the website for) `layer` and `head`."""
    heads = records[0]["attention"][0].shape[1]
    layer = widgets.IntSlider(value=layer, min=0, max=len(records) - 1, description="layer")
    head = widgets.IntSlider(value=head, min=0, max=heads - 1, description="head")

    def build(layer: int, head: int) -> go.Figure:
        probs = records[layer]["attention"][0]
        return attention_heatmap(probs, tokens, head, f"attention, layer {layer}, head {head}")

    return Interactive(build, layer=layer, head=head)


def column_attention_figure(looks: dict[str, dict[str, dict]], look: str, title: str = "") -> go.Figure:
    """Bars per (layer, head): the attention mass one `look` of `probes.COLUMN_LOOKS` measured, for
    each model (name -> `probes.column_attention`'s result); the dotted line is what attention spread
    evenly over the prefix would give."""
    fig = go.Figure()
    uniform = None
    for (model, measured), color in zip(looks.items(), OKABE_ITO, strict=False):
        result = measured[look]
        mass = result["mass"]  # [L, H]
        uniform = result["uniform"]
        labels = [f"L{layer} h{head}" for layer in range(mass.shape[0]) for head in range(mass.shape[1])]
        fig.add_bar(
            x=labels,
            y=mass.flatten().tolist(),
            name=f"{model} ({result['n']} columns)",
            marker_color=color,
            hovertemplate=f"{model}<br>layer, head %{{x}}: %{{y:.1%}} of the attention<extra></extra>",
        )
    if uniform is not None:
        fig.add_hline(y=uniform, line_dash="dot", annotation_text=f"even attention: {uniform:.1%}")
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".0%", range=[0, 1])
    return styled(fig, title or look, "layer and head", "attention probability on those tokens (mean)")


def column_attention_view(looks: dict[str, dict[str, dict]]) -> Interactive:
    """`column_attention_figure` with a dropdown over the looks measured."""
    names = list(next(iter(looks.values())))
    menu = widgets.Dropdown(
        options=names, value=names[-1], description="look", layout=widgets.Layout(width="520px")
    )
    return Interactive(lambda look: column_attention_figure(looks, look), look=menu)
