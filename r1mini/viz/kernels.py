"""Chapter 10 views: the Triton kernels' source, the sorted, padded layout of the MoE grouped GEMM
(V3 paper §2.1.2), the split-KV merge of MLA decoding (§2.1.1), and FP8 block scales and errors
(§3.3.2, Figure 7a).

`triton_sources` reads the kernels from the `*_triton.py` files as text, so the chapter can show
them where Triton is not installed (it ships for Linux only) and importing them would fail.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import plotly.graph_objects as go
import torch

from r1mini.fp8_format import BLOCK
from r1mini.viz.style import HEATMAP_SCALE, OKABE_ITO, styled

PADDING_GREY, UNUSED_GREY = "#999999", "#DDDDDD"
KERNELS_DIR = Path(__file__).resolve().parents[1] / "kernels"


def triton_sources() -> dict[str, dict[str, str]]:
    """Every @triton.jit function of the `*_triton.py` modules, read from the files without
    importing them: module name -> {function name: its source, decorator included}, modules and
    functions in file order."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(KERNELS_DIR.glob("*_triton.py")):
        text = path.read_text()
        lines = text.splitlines()
        found[path.stem] = {
            node.name: "\n".join(lines[node.decorator_list[0].lineno - 1 : node.end_lineno])
            for node in ast.parse(text).body
            if isinstance(node, ast.FunctionDef) and "triton.jit" in map(ast.unparse, node.decorator_list)
        }
    return found


def layout_stats(block_expert: torch.Tensor, n_pairs: int, block_m: int) -> dict[str, int | float]:
    """What `align_by_expert`'s layout costs: blocks allocated and used, rows the GEMMs compute
    (every row of a used block), padding rows among them, and the padding's share of those rows."""
    used = int((block_expert >= 0).sum())
    computed = used * block_m
    padding = computed - n_pairs
    return {
        "blocks": block_expert.numel(),
        "used_blocks": used,
        "rows_computed": computed,
        "padding_rows": padding,
        "padding_share": padding / computed,
    }


def expert_layout_figure(
    sorted_pairs: torch.Tensor,
    block_expert: torch.Tensor,
    n_pairs: int,
    topk: int,
    block_m: int,
    tokens: Sequence[str] | None = None,
) -> go.Figure:
    """The grouped GEMM's rows as a grid, one column per block of `block_m` rows (one program of
    each launch), coloured by the block's expert; padding rows are open squares, unused tail blocks
    (expert -1) pale. `sorted_pairs`, `block_expert` as `align_by_expert` returns them; hovering a
    row shows its (token, slot) pair, `n_pairs` = N·k of them."""
    pairs, experts = sorted_pairs.tolist(), block_expert.tolist()  # padding rows hold n_pairs
    points: dict[str, dict[str, list]] = {}

    def add(trace: str, block: int, row: int, colour: str, text: str) -> None:
        p = points.setdefault(trace, {"x": [], "y": [], "colour": [], "text": []})
        p["x"].append(block)
        p["y"].append(row)
        p["colour"].append(colour)
        p["text"].append(f"row {block * block_m + row} (block {block}, row {row} of it)<br>{text}")

    for block, expert in enumerate(experts):
        for row in range(block_m):
            pair = pairs[block * block_m + row]
            if expert < 0:
                add("unused block", block, row, UNUSED_GREY, "unused block: its programs return at once")
            elif pair == n_pairs:
                colour = OKABE_ITO[expert % len(OKABE_ITO)]
                add(
                    "padding",
                    block,
                    row,
                    colour,
                    f"padding in expert {expert}'s block: multiplied, never written out",
                )
            else:
                token, slot = divmod(pair, topk)
                word = f" {tokens[token]!r}" if tokens is not None else ""
                add(
                    f"expert {expert}",
                    block,
                    row,
                    OKABE_ITO[expert % len(OKABE_ITO)],
                    f"expert {expert}: token {token}{word}, slot {slot} of {topk}",
                )
    size = max(3.0, min(14.0, 300 / block_m, 700 / len(experts)))
    fig = go.Figure()
    names = sorted((n for n in points if n.startswith("expert")), key=lambda n: int(n.split()[1]))
    for name in [*names, "padding", "unused block"]:
        if name not in points:
            continue
        p = points[name]
        symbol = "square" if name.startswith("expert") else "square-open"
        fig.add_trace(
            go.Scatter(
                x=p["x"],
                y=p["y"],
                mode="markers",
                name=name,
                text=p["text"],
                marker=dict(symbol=symbol, size=size, color=p["colour"], line=dict(width=1.5)),
                hovertemplate="%{text}<extra></extra>",
            )
        )
    fig.update_yaxes(autorange="reversed")
    stats = layout_stats(block_expert, n_pairs, block_m)
    return styled(
        fig,
        f"{n_pairs} (token, expert) pairs sorted by expert, BLOCK_M = {block_m}: "
        f"{stats['used_blocks']} blocks used of {stats['blocks']}, "
        f"{stats['padding_share']:.0%} of computed rows are padding",
        "block (one program of each launch; its expert's weights)",
        "row within the block",
    )


def split_kv_figure(probs: torch.Tensor, split_len: int, weights: torch.Tensor) -> go.Figure:
    """One query row's attention over the cache, coloured by cache range (one range per split),
    each range labelled with its merge weight `exp(lse_j − lse)`: the attention mass inside it.

    probs: [S] the row's softmax over the cache; weights: [J] from `merge_weights`."""
    p = probs.float().tolist()
    fig = go.Figure()
    for j, w in enumerate(weights.tolist()):
        start, end = j * split_len, min((j + 1) * split_len, len(p))
        fig.add_trace(
            go.Bar(
                x=list(range(start, end)),
                y=p[start:end],
                name=f"range {j}: weight {w:.3f}",
                marker_color=OKABE_ITO[j % len(OKABE_ITO)],
                hovertemplate=f"range {j}<br>position %{{x}}<br>p = %{{y:.4f}}<extra></extra>",
            )
        )
    fig.update_layout(bargap=0)
    return styled(
        fig,
        f"{len(weights)} range(s) of {split_len} cache positions: each range's merge weight "
        "exp(lse_j − lse) is the attention mass inside it",
        "cache position",
        "attention probability",
    )


def block_scale_heatmap(scale: torch.Tensor, title: str, row_name: str) -> go.Figure:
    """FP8 scales, one per block ([rows, blocks] of `BLOCK` = 128 channels), on a log colour scale."""
    s = scale.float()
    hover = [
        [
            f"{row_name} {r}, channels {BLOCK * b}-{BLOCK * (b + 1) - 1}<br>scale s = {s[r, b]:.3g}"
            for b in range(s.shape[1])
        ]
        for r in range(s.shape[0])
    ]
    fig = go.Figure(
        go.Heatmap(
            z=s.log10().tolist(),
            colorscale=HEATMAP_SCALE,
            text=hover,
            colorbar=dict(title="log10 s"),
            hovertemplate="%{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return styled(fig, title, f"block of {BLOCK} channels", row_name)


def error_curves(
    x: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    title: str,
    x_title: str,
    y_title: str,
    marker_x: float | None = None,
    marker_label: str = "",
) -> go.Figure:
    """Curves on log-log axes (an error against a magnitude), an optional dotted vertical marker
    at `marker_x`, labelled `marker_label`."""
    fig = go.Figure()
    for name, y in curves.items():
        fig.add_trace(
            go.Scatter(
                x=list(x),
                y=list(y),
                mode="lines+markers",
                name=name,
                hovertemplate=f"{name}<br>x = %{{x:.3g}}<br>y = %{{y:.3g}}<extra></extra>",
            )
        )
    if marker_x is not None:
        fig.add_vline(x=marker_x, line_dash="dot", line_color=OKABE_ITO[7])
        # annotations on a log axis take log10 of the position (shapes take the value itself)
        fig.add_annotation(
            x=math.log10(marker_x),
            y=1,
            xref="x",
            yref="y domain",
            xanchor="right",
            yanchor="top",
            text=marker_label,
            showarrow=False,
        )
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return styled(fig, title, x_title, y_title)
