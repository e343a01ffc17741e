"""r1mini.viz.distillation: parameter bars add up to `count_parameters`; the compute curves
accumulate `student_compute` and reproduce the shipped student's recorded budgets; the trace table
tints exactly the lines that differ; the checkpoint bars show the metrics they are given."""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path

import pytest

from r1mini import ModelConfig, count_parameters
from r1mini.reasoning import generate_tasks
from r1mini.training import GRPOConfig, TrainConfig
from r1mini.training.pipeline import DistillConfig, student_compute, student_config
from r1mini.viz.distillation import (
    DIFFERS,
    SAME,
    X_AXES,
    compute_curves_figure,
    cumulative_compute,
    eval_points,
    parameter_figure,
    parameter_rows,
    standard_error,
    students_figure,
    trace_lines,
    trace_table,
)

CHECKPOINTS = Path(__file__).resolve().parents[1] / "assets" / "checkpoints"
MINI = ModelConfig.preset("mini", vocab_size=128)


def test_parameter_rows_add_up_to_count_parameters():
    configs = {"teacher": MINI, "student": student_config(MINI)}
    rows = dict(parameter_rows(configs))
    for name, config in configs.items():
        counts = count_parameters(config)
        assert sum(rows[f"{name}: total"].values()) == counts["total"] + counts["mtp"]
        activated = rows[f"{name}: activated per token"]
        assert sum(activated.values()) == counts["activated"] + counts["mtp_activated"]
    student = rows["student: total"]
    assert student["routed_experts"] == 0 and student["mtp"] == 0  # dense, no MTP module
    assert rows["student: total"] == rows["student: activated per token"]
    fig = parameter_figure(configs, "sizes")
    assert fig.layout.title.text == "sizes" and fig.layout.barmode == "stack"
    by_name = {trace.name: trace for trace in fig.data}
    assert sum(by_name["routed experts"].x) == sum(r["routed_experts"] for r in rows.values())
    with pytest.raises(ValueError, match="configs is empty"):
        parameter_rows({})


def test_cumulative_compute_accumulates_student_compute():
    sft = [{"step": i + 1, "tokens": 100 + i} for i in range(5)]
    grpo = [{"step": i + 1, "tokens": 200, "generated_tokens": 50 * i} for i in range(5)]
    for history, config in ((sft, TrainConfig()), (grpo, GRPOConfig(beta=0.04))):
        curve = cumulative_compute(history, config)
        assert len(curve) == len(history)
        assert all(b >= a for a, b in pairwise(curve))
        assert curve[-1] == student_compute(history, config)
    assert cumulative_compute(sft, TrainConfig())[0] == 3 * 100  # forward + backward


def test_eval_points_start_at_the_base_and_keep_only_evaluations():
    history = [
        {"step": 1, "tokens": 10, "train_seconds": 0.5},
        {"step": 2, "tokens": 10, "train_seconds": 1.0, "eval_accuracy": 0.25},
    ]
    points = eval_points(history, TrainConfig(), start_accuracy=0.1)
    assert [p["step"] for p in points] == [0, 2]
    assert points[0] == {"step": 0, "compute": 0, "train_seconds": 0, "accuracy": 0.1}
    assert points[1]["compute"] == 60 and points[1]["accuracy"] == 0.25


def test_shipped_student_compute_matches_its_recorded_budget():
    history = json.loads((CHECKPOINTS / "student" / "history.json").read_text())
    recorded = json.loads((CHECKPOINTS / "student" / "metrics.json").read_text())["compute_token_forwards"]
    recipe = DistillConfig()
    distill = eval_points(history["3-distill"], recipe.distill, 0.0)
    rl = eval_points(history["4-student-rl"], recipe.student_rl, 0.0)
    assert cumulative_compute(history["3-distill"], recipe.distill)[-1] == recorded["distill"]
    assert cumulative_compute(history["4-student-rl"], recipe.student_rl)[-1] == recorded["student_rl"]
    assert distill[-1]["compute"] <= recorded["distill"] and rl[-1]["compute"] <= recorded["student_rl"]
    runs = {"distillation": distill, "RL": rl}
    for x in X_AXES:
        fig = compute_curves_figure(runs, x, "curves", budget=recorded["distill"])
        assert [trace.name for trace in fig.data] == list(runs)
        assert list(fig.data[0].x) == [p[x] for p in distill]
        assert fig.layout.xaxis.title.text == X_AXES[x]
        assert bool(fig.layout.shapes) == (x == "compute")  # the budget line on the compute axis
    with pytest.raises(ValueError, match="x='tokens'"):
        compute_curves_figure(runs, "tokens", "curves")


def test_trace_table_tints_the_lines_that_differ():
    task = generate_tasks("arithmetic", 1, seed=0, split="test", difficulty=4)[0]
    right = f"<think>\n{task.thinking}\n</think>\n<answer>{task.answer}</answer>"
    lines = trace_lines(right)
    assert lines[0] == "<think>" and lines[-1] == f"<answer>{task.answer}</answer>"
    slipped = lines.copy()
    slipped[1] = "9+9=18 c1"
    slipped[-1] = f"<answer>{int(task.answer) + 1}</answer>"
    fig = trace_table(task, {"teacher": right, "student": "\n".join(slipped)})
    table = fig.data[0]
    fills = table.cells.fill.color
    assert list(fills[1]) == [SAME] * len(lines)  # the first model is the reference
    expected = [DIFFERS if i in (1, len(lines) - 1) else SAME for i in range(len(lines))]
    assert list(fills[2]) == expected
    assert "right" in table.header.values[1] and "wrong" in table.header.values[2]
    shorter = trace_table(task, {"teacher": right, "student": "<think>"})
    assert list(shorter.data[0].cells.fill.color[2])[1:] == [DIFFERS] * (len(lines) - 1)
    with pytest.raises(ValueError, match="responses is empty"):
        trace_table(task, {})


def test_students_figure_shows_each_checkpoints_metrics():
    student = json.loads((CHECKPOINTS / "student" / "metrics.json").read_text())
    compared = {"RL": student["student_rl"], "distilled": student}
    fig = students_figure(compared, "students")
    assert [trace.name for trace in fig.data] == list(compared)
    distilled = fig.data[1]
    assert list(distilled.y) == [
        student["greedy"]["pass@1"],
        student["sampled_t0.6"]["pass@1"],
        student["by_mode_t1"]["accuracy"],
    ]
    n = student["held_out_tasks"]
    assert math.isclose(distilled.error_y.array[0], standard_error(student["greedy"]["pass@1"], n))
    with pytest.raises(ValueError, match="no \\['greedy'\\]"):
        students_figure({"broken": {"held_out_tasks": 1}}, "students")
    assert standard_error(0.5, 100) == 0.05
