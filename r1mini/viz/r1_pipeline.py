"""Chapter 07 views: R1's four training stages (R1 paper §2.3) in miniature.

* `rejection_summary`, `rejection_figure`: rejection sampling (§2.3.3). k responses are sampled
  for each prompt and `r1mini.training.rejection.judge_samples` says what became of each: kept
  (right answer, well-formed, reasoning in the task's language, a new response), a repeat, or
  dropped and why. The figure draws those verdicts as a prompts × samples grid and shows how the
  kept set grows with k.
* `pipeline_figure`: every stage's metric history (`history.json` of the `r1` checkpoint, or a
  `Pipeline`'s `history(stage)`) on one axis, stage after stage, the stages marked.
* `checkpoints_figure`: the `metrics.json` of several checkpoints side by side (§3's pass@1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from r1mini.reasoning.template import parse_response
from r1mini.training.rejection import VERDICTS, VERIFIED
from r1mini.viz.reasoning import add_smoothed, comparison_figure, metrics_table
from r1mini.viz.style import FIGURE_HEIGHT, OKABE_ITO, styled

Record = Mapping[str, Any]

# ---- rejection sampling (R1 §2.3.3) ---------------------------------------------------------------
NOT_DRAWN = "not drawn"  # a cell of the grid beyond the k samples drawn
VERDICT_LABELS = {
    "kept": "kept: a new example",
    "repeat": "verified, but a repeat of a kept one",
    "malformed": "dropped: malformed",
    "wrong answer": "dropped: wrong answer",
    "mixed language": "dropped: mixed language",
    NOT_DRAWN: "not drawn (beyond k)",
}
VERDICT_COLORS = {
    "kept": OKABE_ITO[2],  # bluish green
    "repeat": OKABE_ITO[5],  # sky blue
    "malformed": OKABE_ITO[1],  # orange
    "wrong answer": OKABE_ITO[3],  # vermillion
    "mixed language": OKABE_ITO[4],  # reddish purple
    NOT_DRAWN: "#eeeeee",
}


def _check_grid(verdicts: Sequence[Sequence[str]], k: int) -> None:
    if not verdicts or not all(verdicts):
        raise ValueError("verdicts is empty: give one non-empty row of verdicts per prompt")
    widths = sorted({len(row) for row in verdicts})
    if len(widths) > 1:
        raise ValueError(f"verdicts has rows of {widths} samples; every prompt needs as many samples")
    if not 1 <= k <= widths[0]:
        raise ValueError(f"k={k} must lie in 1..{widths[0]}, the samples drawn per prompt")
    unknown = {v for row in verdicts for v in row} - set(VERDICTS)
    if unknown:
        raise ValueError(f"verdicts has {sorted(unknown)}; a verdict is one of {VERDICTS}")


def rejection_summary(verdicts: Sequence[Sequence[str]], k: int) -> dict[str, float]:
    """Counts and shares for the first ``k`` samples of each prompt.

    ``verdicts``: one row per prompt, its samples' verdicts in the order they were drawn (so the
    first ``k`` are what sampling ``k`` per prompt would have given). Returns prompts, responses,
    verified (passed the rule), kept (distinct examples), prompts_covered (with at least one kept
    example), accept_rate (verified / responses) and coverage (prompts_covered / prompts).
    """
    _check_grid(verdicts, k)
    rows = [row[:k] for row in verdicts]
    responses = sum(len(row) for row in rows)
    verified = sum(v in VERIFIED for row in rows for v in row)
    kept = sum(v == "kept" for row in rows for v in row)
    covered = sum("kept" in row for row in rows)
    return {
        "prompts": float(len(rows)),
        "responses": float(responses),
        "verified": float(verified),
        "kept": float(kept),
        "prompts_covered": float(covered),
        "accept_rate": verified / responses,
        "coverage": covered / len(rows),
    }


def rejection_figure(
    prompts: Sequence[str],
    verdicts: Sequence[Sequence[str]],
    k: int,
    title: str,
    responses: Sequence[Sequence[str]] | None = None,
) -> go.Figure:
    """Left: the prompts × samples grid of verdicts, samples beyond ``k`` greyed out (hover shows
    the answer given, if ``responses`` has the texts). Right: for every k, the share of responses
    that pass the rule and the share of prompts left with at least one kept example."""
    _check_grid(verdicts, k)
    if len(prompts) != len(verdicts):
        raise ValueError(f"{len(prompts)} prompts but {len(verdicts)} rows of verdicts; give one row each")
    width = len(verdicts[0])
    order = [*VERDICTS, NOT_DRAWN]
    cells = [[v if j < k else NOT_DRAWN for j, v in enumerate(row)] for row in verdicts]
    z = [[order.index(cell) for cell in row] for row in cells]  # [prompts, width]
    hover = []
    for i, row in enumerate(cells):
        hover.append([])
        for j, cell in enumerate(row):
            text = f"{prompts[i]}<br>sample {j + 1}: {VERDICT_LABELS[cell]}"
            if responses is not None and cell != NOT_DRAWN:
                text += f"<br>answer given: {parse_response(responses[i][j]).answer}"
            hover[-1].append(text)
    n = len(order)
    scale = [  # one flat step of colour per verdict
        [min(1.0, (index + edge) / n), VERDICT_COLORS[name]]
        for index, name in enumerate(order)
        for edge in (0, 1)
    ]
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.55, 0.45],
        horizontal_spacing=0.16,
        subplot_titles=["each sampled response (rows: prompts)", "what k samples per prompt give"],
    )
    fig.add_heatmap(
        z=z,
        x=list(range(1, width + 1)),
        y=list(range(len(prompts))),
        zmin=-0.5,
        zmax=n - 0.5,
        colorscale=scale,
        showscale=False,
        xgap=2,
        ygap=2,
        text=hover,
        hovertemplate="%{text}<extra></extra>",
        row=1,
        col=1,
    )
    for name in order:  # the legend of the grid's colours
        swatch = dict(symbol="square", size=12, color=VERDICT_COLORS[name], line=dict(color="#999", width=1))
        fig.add_scatter(
            x=[None], y=[None], mode="markers", name=VERDICT_LABELS[name], marker=swatch, row=1, col=1
        )
    ks = list(range(1, width + 1))
    curves = [rejection_summary(verdicts, j) for j in ks]
    lines = (
        ("accept_rate", "share of responses verified", OKABE_ITO[0], "solid"),
        ("coverage", "share of prompts with a kept example", OKABE_ITO[2], "dash"),
    )
    for key, label, color, dash in lines:
        fig.add_scatter(
            x=ks,
            y=[c[key] for c in curves],
            mode="lines+markers",
            name=label,
            row=1,
            col=2,
            line=dict(color=color, dash=dash, width=3),
            hovertemplate=f"k = %{{x}}<br>{label}: %{{y:.1%}}<extra></extra>",
        )
    fig.add_vline(x=k, line=dict(color="#333", dash="dot"), row=1, col=2)
    now = rejection_summary(verdicts, k)
    heading = (
        f"{title}<br><sup>k = {k}: {now['verified']:.0f} of {now['responses']:.0f} responses verified "
        f"({now['accept_rate']:.0%}), {now['kept']:.0f} distinct examples kept, "
        f"{now['prompts_covered']:.0f} of {now['prompts']:.0f} prompts covered</sup>"
    )
    styled(fig, heading, "sample number (per prompt)", "prompt")
    rows = list(range(len(prompts)))
    fig.update_yaxes(autorange="reversed", tickvals=rows, ticktext=list(prompts), row=1, col=1)
    fig.update_xaxes(dtick=1, row=1, col=1)
    fig.update_xaxes(title_text="k, responses sampled per prompt", dtick=1, row=1, col=2)
    fig.update_yaxes(title_text="share", range=[0, 1.05], tickformat=".0%", row=1, col=2)
    fig.update_layout(
        height=int(FIGURE_HEIGHT * 1.25),
        margin=dict(t=100),
        legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.16),
    )
    return fig


# ---- the stages, one after another ----------------------------------------------------------------
STAGE_LABELS = {
    "1-cold-start": "1. cold-start SFT",
    "2-reasoning-rl": "2. reasoning RL",
    "3-sft": "3. SFT of the base<br>on the kept samples",
    "4-final-rl": "4. RL, all scenarios",
}
STAGE_FILLS = {"SFT": "#fbecd0", "RL": "#d9eaf5"}  # the SVG's colours: orange SFT, blue RL


def stage_kind(records: Sequence[Record]) -> str:
    """`RL` for a GRPO stage (its steps have a reward), `SFT` otherwise."""
    return "RL" if any("reward" in record for record in records) else "SFT"


def pipeline_figure(
    history: Mapping[str, Sequence[Record]], title: str, start: Record | None = None, window: int = 10
) -> go.Figure:
    """Every stage of a pipeline on one step axis, stage after stage, each stage shaded and named.

    ``history``: stage name -> the records of its steps (`history.json`'s layout). Top: held-out
    accuracy, greedy (diamonds: the ``eval_accuracy`` of the records that have it) and, in the RL
    stages, the accuracy of the sampled training responses (faint per step, bold ``window``-step
    mean). Bottom, in nats per token on a log axis: the SFT stages' cross-entropy on their
    examples and the RL stages' KL divergence to the reference model. ``start``: a record with
    ``eval_accuracy`` drawn at step 0, the model the pipeline starts from.
    """
    if not history or not all(history.values()):
        raise ValueError("history is empty: give stage name -> the (non-empty) records of its steps")
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.62, 0.38],
        vertical_spacing=0.06,
    )
    styled(fig, title, "", "")
    shown: set[str] = set()

    def add(name: str, **trace: Any) -> None:
        fig.add_scatter(name=name, legendgroup=name, showlegend=name not in shown, **trace)
        shown.add(name)

    if start is not None:
        add(
            "held-out accuracy, greedy",
            x=[0],
            y=[float(start["eval_accuracy"])],
            mode="markers",
            marker=dict(symbol="diamond", size=9, color="#000000"),
            row=1,
            col=1,
            hovertemplate="before stage 1<br>held-out accuracy: %{y:.1%}<extra></extra>",
        )
    offset = 0
    for stage, records in history.items():
        label = STAGE_LABELS.get(stage, stage)
        plain = label.replace("<br>", " ")
        kind = stage_kind(records)
        x = [offset + record["step"] for record in records]
        end = max(x)
        fig.add_vrect(
            x0=offset,
            x1=end,
            fillcolor=STAGE_FILLS[kind],
            opacity=0.6,
            layer="below",
            line_width=0,
            row="all",
            col=1,
        )
        fig.add_annotation(
            x=(offset + end) / 2,
            y=1.0,
            xref="x",
            yref="y domain",
            yanchor="bottom",
            showarrow=False,
            text=f"<b>{label}</b><br>{kind}, {len(records)} steps",
            font=dict(size=11),
        )
        evals = [(offset + r["step"], float(r["eval_accuracy"])) for r in records if "eval_accuracy" in r]
        if evals:
            add(
                "held-out accuracy, greedy",
                x=[e[0] for e in evals],
                y=[e[1] for e in evals],
                mode="lines+markers",
                line=dict(color="#000000", width=1),
                marker=dict(symbol="diamond", size=8, color="#000000"),
                row=1,
                col=1,
                customdata=[s - offset for s, _ in evals],
                hovertemplate=f"{plain}, step %{{customdata}}<br>held-out accuracy: %{{y:.1%}}"
                "<extra></extra>",
            )
        if kind == "RL":
            steps = [r for r in records if "accuracy" in r]
            values = [float(r["accuracy"]) for r in steps]
            xs = [offset + r["step"] for r in steps]
            label = "training accuracy (sampled, T = 1)"
            legend = dict(legendgroup=label, showlegend=label not in shown)
            where = f"{plain}<br>pipeline step %{{x}}"
            add_smoothed(
                fig, xs, values, label, OKABE_ITO[0], window, "%{y:.1%}", where, **legend, row=1, col=1
            )
            shown.add(label)
        key, name, color = (
            ("kl", "RL: KL to the reference model", OKABE_ITO[4])
            if kind == "RL"
            else ("ce", "SFT: cross-entropy on the examples", OKABE_ITO[3])
        )
        points = [(offset + r["step"], float(r[key])) for r in records if float(r.get(key, 0.0)) > 0]
        if points:
            add(
                name,
                x=[p[0] for p in points],
                y=[p[1] for p in points],
                mode="lines",
                line=dict(color=color, width=2),
                row=2,
                col=1,
                hovertemplate=f"{plain}<br>pipeline step %{{x}}<br>{key}: %{{y:.2e}} nats/token"
                "<extra></extra>",
            )
        offset = end
    fig.update_yaxes(title_text="share correct", range=[0, 1.05], tickformat=".0%", row=1, col=1)
    fig.update_yaxes(title_text="nats per token (log)", type="log", exponentformat="power", row=2, col=1)
    fig.update_xaxes(
        title_text="pipeline step (each stage's SFT or GRPO steps, one stage after another)", row=2, col=1
    )
    fig.update_layout(
        height=int(FIGURE_HEIGHT * 1.5),
        margin=dict(t=140),
        legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.14),
    )
    return fig


# ---- checkpoints side by side -----------------------------------------------------------------
CHECKPOINT_METRICS = (
    ("greedy", "pass@1", "pass@1, greedy"),
    ("sampled_t0.6", "pass@1", "pass@1, T = 0.6, top-p 0.95 (R1 §3)"),
    ("sampled_t0.6", "reasoning_share", "share reasoning, T = 0.6"),
    ("greedy", "mean_length", "mean response length, greedy"),
)  # metrics.json section, key, label


def checkpoints_figure(metrics: Mapping[str, Mapping[str, Any]], title: str) -> go.Figure:
    """Checkpoints measured on the same held-out tasks (their `metrics.json`): pass@1 greedy and
    at R1's sampling setting and the share of responses that reason (left), mean response length
    in tokens, greedy (right)."""
    table = metrics_table(metrics, CHECKPOINT_METRICS)
    *shares, (_, _, length) = CHECKPOINT_METRICS
    return comparison_figure(table, title, [(label, label) for _, _, label in shares], length)


# ---- the SFT example format (R1 §2.3.1, §2.3.3) ---------------------------------------------------
SEGMENTS = {  # part of an SFT example -> (legend label, colour)
    "prompt": ("prompt: context, no loss", "#BBBBBB"),
    "tag": ("tags: trained", OKABE_ITO[7]),
    "reasoning": ("reasoning: trained", OKABE_ITO[0]),
    "answer": ("answer: trained", OKABE_ITO[1]),
    "end": ("<eos>: trained", OKABE_ITO[3]),
}


def example_segments(tokens: Sequence[str], weights: Sequence[float]) -> list[str]:
    """The part of an SFT example each token is (`SEGMENTS`): weight 0 is the prompt the loss
    skips; after it, the tags, the reasoning between `<think>` tags, the answer, `<eos>`."""
    parts, inside = [], "tag"
    for token, weight in zip(tokens, weights, strict=True):
        if not weight:
            parts.append("prompt")
        elif token in ("<think>", "</think>", "<answer>", "</answer>"):
            parts.append("tag")
            inside = {"<think>": "reasoning", "<answer>": "answer"}.get(token, "tag")
        elif token == "<eos>":
            parts.append("end")
        else:
            parts.append(inside if inside != "tag" else "reasoning")
    return parts


def sft_example_figure(
    tokens: Sequence[str], weights: Sequence[float], title: str, per_row: int = 24
) -> go.Figure:
    """One SFT example as the model reads it, a square per token in reading order (`per_row` a row),
    coloured by part (`example_segments`): what is context and what the loss trains on. tokens: the
    token strings of `encode_batch`'s row; weights: its loss weights shifted to the token they
    predict (weight of token t)."""
    parts = example_segments(tokens, weights)
    fig = go.Figure()
    for part, (label, colour) in SEGMENTS.items():
        at = [i for i, p in enumerate(parts) if p == part]
        if not at:
            continue
        shown = [tokens[i].replace("\n", "↵") for i in at]
        fig.add_scatter(
            x=[i % per_row for i in at],
            y=[i // per_row for i in at],
            mode="markers+text",
            marker=dict(symbol="square", size=30, color=colour, line=dict(color="white", width=1)),
            text=[t if len(t) == 1 or t == "↵" else t.strip("<>|")[:4] for t in shown],
            textfont=dict(color="white" if part != "prompt" else "black", size=11),
            name=label,
            customdata=[[i, t, float(weights[i])] for i, t in zip(at, shown, strict=True)],
            hovertemplate="token %{customdata[0]}: %{customdata[1]}<br>loss weight %{customdata[2]:g}"
            f"<br>{label}<extra></extra>",
        )
    rows = (len(tokens) + per_row - 1) // per_row
    fig.update_yaxes(autorange="reversed", showticklabels=False, showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    styled(fig, title, f"reading order: {per_row} tokens a row", "rows")
    fig.update_layout(height=max(220, 120 + 40 * rows), legend=dict(orientation="h", y=-0.15))
    return fig


# ---- how much data each stage saw (R1 §2.3.1, §2.3.3) ---------------------------------------------
# R1's data sizes, from the paper: the cold start's "thousands" (§2.3.1) drawn as the range
# 1,000-9,999, then "about 600k reasoning related training samples" and "about 200k training samples
# that are unrelated to reasoning" (§2.3.3), fine-tuned on together ("about 800k samples").
R1_DATA = {
    "cold start": (1_000, 9_999),
    "reasoning samples (rejection sampling)": 600_000,
    "non-reasoning samples": 200_000,
    "stage-3 SFT set": 800_000,
}


def data_scale_figure(ours: Mapping[str, int], title: str, log: bool = True) -> go.Figure:
    """Bars: the examples of each data set of R1's pipeline (`R1_DATA`; the cold start's "thousands"
    as a range) beside the miniature's (`ours`, the same keys), on a log or linear axis."""
    fig = go.Figure()
    names = list(R1_DATA)
    low = [v[0] if isinstance(v, tuple) else v for v in R1_DATA.values()]
    high = [v[1] if isinstance(v, tuple) else v for v in R1_DATA.values()]
    fig.add_bar(
        x=names,
        y=low,
        name="DeepSeek-R1 (paper)",
        marker_color=OKABE_ITO[0],
        error_y=dict(type="data", symmetric=False, array=[h - lo for h, lo in zip(high, low, strict=True)]),
        text=["thousands" if h != lo else f"{lo:,}" for lo, h in zip(low, high, strict=True)],
        textposition="outside",
        hovertemplate="R1, %{x}: %{text}<extra></extra>",
    )
    fig.add_bar(
        x=names,
        y=[ours[name] for name in names],
        name="r1mini",
        marker_color=OKABE_ITO[1],
        text=[f"{ours[name]:,}" for name in names],
        textposition="outside",
        hovertemplate="r1mini, %{x}: %{y:,} examples<extra></extra>",
    )
    fig.update_layout(barmode="group")
    fig.update_yaxes(type="log" if log else "linear")
    return styled(fig, title, "data set", "examples (count)")


# ---- R1's last stage, RL for all scenarios (R1 §2.3.4) -------------------------------------------
def scenario_figure(
    history: Sequence[Record], title: str, rater: Mapping[int, float] | None = None, window: int = 5
) -> go.Figure:
    """Both rewards of a stage-4 run: top, the rule reward of the reasoning prompts' responses
    (accuracy + format + language, at most 3) and, on the right axis, held-out greedy accuracy;
    middle, the learned reward of the other prompts' replies (at most 1) and its held-out greedy
    value (`eval_preference`); bottom, if given, the hidden rater's mean score (step -> score),
    which the run never sees."""
    rows = 3 if rater else 2
    titles = ["reasoning prompts: rule rewards", "formatting prompts: the learned reward"]
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=[*titles, "the hidden rater (never seen in training)"][:rows],
        specs=[[{"secondary_y": True}]] + [[{}]] * (rows - 1),
    )
    steps = [r for r in history if "reward_rule" in r or "reward_preference" in r]
    for row, key, label, colour in (
        (1, "reward_rule", "rule reward (of 3)", OKABE_ITO[0]),
        (2, "reward_preference", "learned reward (of 1)", OKABE_ITO[1]),
    ):
        points = [r for r in steps if key in r]
        add_smoothed(
            fig, [r["step"] for r in points], [r[key] for r in points], label, colour, window, row=row, col=1
        )
    for row, key, label, colour, right in (
        (1, "eval_accuracy", "held-out accuracy, greedy (right axis)", OKABE_ITO[2], True),
        (2, "eval_preference", "held-out learned reward, greedy", OKABE_ITO[3], False),
    ):
        evals = [r for r in history if key in r]
        fig.add_scatter(
            x=[r["step"] for r in evals],
            y=[r[key] for r in evals],
            mode="markers+lines",
            marker=dict(symbol="diamond", size=9, color=colour),
            line=dict(dash="dot", color=colour),
            name=label,
            hovertemplate=f"step %{{x}}<br>{label}: %{{y:.3f}}<extra></extra>",
            row=row,
            col=1,
            **({"secondary_y": True} if right else {}),
        )
    if rater:
        fig.add_scatter(
            x=list(rater),
            y=list(rater.values()),
            mode="markers+lines",
            marker=dict(size=9, color=OKABE_ITO[4]),
            name="hidden rater's mean score (of 2)",
            hovertemplate="step %{x}<br>rater's mean score %{y:.2f}<extra></extra>",
            row=3,
            col=1,
        )
        low = min(0.0, *rater.values())
        fig.update_yaxes(title_text="score", range=[low - 0.05, 2.05], row=3, col=1)
    styled(fig, title, "", "")
    fig.update_xaxes(title_text="GRPO step", row=rows, col=1)
    fig.update_yaxes(title_text="reward", range=[0, 3.1], row=1, col=1, secondary_y=False)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.03], tickformat=".0%", row=1, col=1, secondary_y=True)
    fig.update_yaxes(title_text="reward", range=[0, 1.03], row=2, col=1)
    fig.update_layout(height=FIGURE_HEIGHT + 140 * rows - 100)
    return fig


STYLE_COLOURS = {
    "grouped": OKABE_ITO[2],
    "plain": OKABE_ITO[5],
    "spaced": OKABE_ITO[1],
    "other": OKABE_ITO[3],
    "none": "#BBBBBB",
}


def style_figure(shares: Mapping[str, Mapping[str, float]], title: str) -> go.Figure:
    """Stacked bars: for each model (name -> `formatting.style_shares`), the share of its replies
    in each style; the hidden rater's mean score in the bar's label."""
    names = list(shares)
    fig = go.Figure()
    for style, colour in STYLE_COLOURS.items():
        fig.add_bar(
            x=[f"{name}<br>rater {shares[name]['rater']:.2f}" for name in names],
            y=[shares[name][style] for name in names],
            name=style,
            marker_color=colour,
            hovertemplate=f"%{{x}}<br>{style}: %{{y:.0%}} of the replies<extra></extra>",
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(tickformat=".0%", range=[0, 1])
    return styled(
        fig,
        title,
        "model (hidden rater's mean score: 2 grouped, 1 plain, 0.5 spaced, 0 other)",
        "share of replies",
    )
