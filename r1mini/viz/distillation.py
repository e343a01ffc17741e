"""Chapter 09 views: distilling R1 into a small dense student (R1 paper §2.4), and distillation
against RL on the same student at equal compute (§4.1, "Distillation v.s. Reinforcement
Learning", Table 6).

* `parameter_figure`: teacher and student parameters by component (`count_parameters`), in total
  and activated per token; the teacher's MTP module, dropped at inference, drawn apart.
* `cumulative_compute`, `eval_points`, `compute_curves_figure`: held-out accuracy of the two ways
  of training the student against the compute they spent (`student_compute`, token-forwards),
  their training seconds, or their steps, from the `student` checkpoint's `history.json`.
* `trace_lines`, `trace_table`: one question's responses from several models, line by line (one
  line per digit column), the lines that differ from the first model's marked.
* `students_figure`: pass@1 of several checkpoints from their `metrics.json`: greedy, R1's
  sampled setting (§3: T = 0.6, top-p 0.95) and temperature 1 (how GRPO samples).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from r1mini.accounting import count_parameters
from r1mini.config import ModelConfig
from r1mini.reasoning.evaluate import score_sample
from r1mini.reasoning.task import Task
from r1mini.training.grpo import GRPOConfig
from r1mini.training.pipeline import student_compute
from r1mini.training.trainer import TrainConfig
from r1mini.viz.reasoning import metrics_table
from r1mini.viz.style import FIGURE_HEIGHT, OKABE_ITO, styled

Record = Mapping[str, Any]

# ---- sizes ------------------------------------------------------------------------------------
COMPONENT_LABELS = {
    "embedding": "embedding",
    "attention": "attention (MLA)",
    "norms": "norms",
    "dense_mlp": "dense FFN",
    "gates": "routers",
    "shared_experts": "shared experts",
    "routed_experts": "routed experts",
    "head": "output head",
    "mtp": "MTP module (dropped at inference)",
}


def parameter_rows(configs: Mapping[str, ModelConfig]) -> list[tuple[str, dict[str, int]]]:
    """(bar label, component -> parameters) for each model: its total and its parameters
    activated per token (`count_parameters`' breakdowns), each with its MTP module apart."""
    if not configs:
        raise ValueError("configs is empty: give model name -> ModelConfig")
    rows = []
    for name, config in configs.items():
        counts = count_parameters(config)
        total = {**counts["breakdown"], "mtp": counts["mtp"]}
        activated = {**counts["activated_breakdown"], "mtp": counts["mtp_activated"]}
        rows += [(f"{name}: total", total), (f"{name}: activated per token", activated)]
    return rows


def parameter_figure(configs: Mapping[str, ModelConfig], title: str) -> go.Figure:
    """Stacked horizontal bars: each model's parameters by component, in total and activated
    per token (`count_parameters`; a dense model activates everything)."""
    rows = parameter_rows(configs)
    labels = [label for label, _ in rows][::-1]  # the first model on top
    fig = go.Figure()
    for i, (component, name) in enumerate(COMPONENT_LABELS.items()):
        values = [counts.get(component, 0) for _, counts in rows][::-1]
        if not any(values):
            continue
        fig.add_bar(
            y=labels,
            x=values,
            name=name,
            orientation="h",
            marker=dict(color=OKABE_ITO[i % len(OKABE_ITO)], pattern_shape="/" if component == "mtp" else ""),
            hovertemplate=f"%{{y}}<br>{name}: %{{x:,}} parameters<extra></extra>",
        )
    styled(fig, title, "parameters", "")
    fig.update_layout(barmode="stack", legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(tickformat=",")
    return fig


# ---- compute curves ---------------------------------------------------------------------------
X_AXES = {
    "compute": "compute spent (token-forwards: one token through the student once)",
    "train_seconds": "training time (s, evaluation excluded)",
    "step": "training step (optimizer steps)",
}


def cumulative_compute(history: Sequence[Record], config: TrainConfig | GRPOConfig) -> list[float]:
    """Compute spent by the end of each step of a run: `student_compute` of the steps so far."""
    total, out = 0.0, []
    for record in history:
        total += student_compute([record], config)
        out.append(total)
    return out


def eval_points(
    history: Sequence[Record], config: TrainConfig | GRPOConfig, start_accuracy: float
) -> list[dict[str, float]]:
    """The held-out evaluations of a run (records with `eval_accuracy`) as points with `step`,
    `compute`, `train_seconds` and `accuracy`, after a point at step 0 for the model the run
    started from (`start_accuracy`: its accuracy measured the same way)."""
    compute = cumulative_compute(history, config)
    points = [{"step": 0.0, "compute": 0.0, "train_seconds": 0.0, "accuracy": float(start_accuracy)}]
    for record, spent in zip(history, compute, strict=True):
        if "eval_accuracy" in record:
            points.append(
                {
                    "step": float(record["step"]),
                    "compute": spent,
                    "train_seconds": float(record["train_seconds"]),
                    "accuracy": float(record["eval_accuracy"]),
                }
            )
    return points


def compute_curves_figure(
    runs: Mapping[str, Sequence[Mapping[str, float]]], x: str, title: str, budget: float | None = None
) -> go.Figure:
    """Held-out accuracy of each run (name -> `eval_points`) against `x`, one of `X_AXES`;
    with `budget` and x = "compute", a dashed line where the compute budget ends."""
    if x not in X_AXES:
        raise ValueError(f"x={x!r} must be one of {list(X_AXES)}")
    if not runs:
        raise ValueError("runs is empty: give run name -> eval_points(...)")
    fig = go.Figure()
    for (name, points), color in zip(runs.items(), OKABE_ITO, strict=False):
        fig.add_scatter(
            x=[p[x] for p in points],
            y=[p["accuracy"] for p in points],
            mode="lines+markers",
            name=name,
            line=dict(color=color, width=3),
            marker=dict(size=7),
            customdata=[[p["step"], p["compute"], p["train_seconds"]] for p in points],
            hovertemplate=(
                f"{name}<br>step %{{customdata[0]:.0f}}, %{{customdata[1]:,.0f}} token-forwards, "
                "%{customdata[2]:.1f} s<br>held-out accuracy %{y:.1%}<extra></extra>"
            ),
        )
    styled(fig, title, X_AXES[x], "held-out accuracy (greedy)")
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    if budget is not None and x == "compute":
        fig.add_vline(
            x=budget,
            line=dict(color="#555555", dash="dash"),
            annotation_text="budget",
            annotation_position="bottom right",
        )
    fig.update_layout(legend=dict(orientation="h", y=-0.2))
    return fig


# ---- traces side by side ----------------------------------------------------------------------
DIFFERS = "#f9d9c7"  # a light tint of Okabe-Ito vermillion: this line differs from the first model's
SAME = "#ffffff"


def trace_lines(response: str) -> list[str]:
    """A response cut into its lines: `<think>`, one line per step, `</think>`, the answer."""
    return response.split("\n")


def trace_table(task: Task, responses: Mapping[str, str], title: str | None = None) -> go.Figure:
    """One question's responses side by side, line by line, as a table; a cell is tinted where a
    model's line differs from the first model's line at the same place. Each column's header
    says whether the response is right (`score_sample`)."""
    if not responses:
        raise ValueError("responses is empty: give model name -> response text")
    columns = {name: trace_lines(text) for name, text in responses.items()}
    n = max(map(len, columns.values()))
    first = next(iter(columns.values()))
    cells, fills, headers = [[str(i + 1) for i in range(n)]], [[SAME] * n], ["line"]
    for name, lines in columns.items():
        lines = lines + [""] * (n - len(lines))
        cells.append(lines)
        same = [i < len(first) and line == first[i] for i, line in enumerate(lines)]
        fills.append([SAME if alike else DIFFERS for alike in same])
        verdict = "right" if score_sample(task, responses[name]).correct else "wrong"
        headers.append(f"<b>{name}</b>: {verdict}")
    fig = go.Figure(
        go.Table(
            columnwidth=[0.5] + [3] * len(columns),
            header=dict(values=headers, fill_color="#e8e8e8", align="left", font=dict(size=13)),
            cells=dict(
                values=cells,
                fill_color=fills,
                align="left",
                height=24,
                font=dict(family="monospace", size=13),
            ),
        )
    )
    heading = title or f"{task.prompt}: the right answer is {task.answer}"
    fig.update_layout(
        title=f"{heading}<br><sup>tinted: differs from {next(iter(columns))}'s line</sup>",
        height=min(FIGURE_HEIGHT, 130 + 26 * n),
        margin=dict(l=20, r=20, t=80, b=10),
    )
    return fig


# ---- checkpoints side by side -----------------------------------------------------------------
SETTINGS = (
    ("greedy", "pass@1", "greedy"),
    ("sampled_t0.6", "pass@1", "T = 0.6, top-p 0.95 (R1 §3)"),
    ("by_mode_t1", "accuracy", "T = 1 (how GRPO samples)"),
)  # metrics.json section, key, label


def standard_error(p: float, n: int) -> float:
    """Binomial standard error of an accuracy p measured on n questions."""
    return math.sqrt(p * (1 - p) / n)


def students_figure(metrics: Mapping[str, Mapping[str, Any]], title: str) -> go.Figure:
    """Grouped bars: each checkpoint's accuracy (name -> its `metrics.json`, or a section of it
    such as `student_rl`) in the three `SETTINGS`, with ±1 binomial standard error over the
    held-out questions (an upper bound where a question's several samples are averaged)."""
    table = metrics_table(metrics, SETTINGS)
    labels = [label for _, _, label in SETTINGS]
    fig = go.Figure()
    for (name, row), color in zip(table.items(), OKABE_ITO, strict=False):
        values = list(row.values())
        errors = [standard_error(v, int(metrics[name]["held_out_tasks"])) for v in values]
        fig.add_bar(
            x=labels,
            y=values,
            name=name,
            marker_color=color,
            error_y=dict(type="data", array=errors, color="#333333", thickness=1.2),
            text=[f"{v:.0%}" for v in values],
            textposition="auto",
            insidetextanchor="middle",
            customdata=errors,
            hovertemplate=f"{name}<br>%{{x}}: %{{y:.1%}} ± %{{customdata:.1%}}<extra></extra>",
        )
    styled(fig, title, "decoding", "pass@1 on the held-out questions")
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%")
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.2))
    return fig
