"""r1mini.viz.r1_pipeline: the rejection-sampling summaries count the first k samples; the figures
draw what they are given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import assert_labelled

from r1mini.training.rejection import VERDICTS
from r1mini.viz.r1_pipeline import (
    NOT_DRAWN,
    STAGE_LABELS,
    checkpoints_figure,
    pipeline_figure,
    rejection_figure,
    rejection_summary,
    stage_kind,
)

CHECKPOINTS = Path(__file__).resolve().parents[1] / "assets" / "checkpoints"


def response(thinking: str, answer: str, tail: str = "") -> str:
    return f"<think>\n{thinking}\n</think>\n<answer>{answer}</answer>{tail}"


def test_summary_counts_the_first_k_samples_of_each_prompt():
    grid = [["kept", "repeat", "wrong answer"], ["wrong answer", "malformed", "kept"]]
    one = rejection_summary(grid, 1)
    assert (one["responses"], one["verified"], one["kept"], one["prompts_covered"]) == (2, 1, 1, 1)
    assert one["accept_rate"] == 0.5 and one["coverage"] == 0.5
    three = rejection_summary(grid, 3)
    assert (three["verified"], three["kept"], three["coverage"]) == (3, 2, 1.0)
    with pytest.raises(ValueError, match="k=4"):
        rejection_summary(grid, 4)
    with pytest.raises(ValueError, match="rows of"):
        rejection_summary([["kept"], ["kept", "repeat"]], 1)
    with pytest.raises(ValueError, match="one of"):
        rejection_summary([["accepted"]], 1)
    with pytest.raises(ValueError, match="empty"):
        rejection_summary([], 1)


def test_rejection_figure_greys_out_samples_beyond_k():
    grid = [["kept", "repeat", "wrong answer"], ["wrong answer", "malformed", "kept"]]
    texts = [[response("1+1=2 c0", "2")] * 3] * 2
    fig = rejection_figure(["compute 1+1", "compute 2+2"], grid, 2, "a grid", texts)
    heat = fig.data[0]
    order = [*VERDICTS, NOT_DRAWN]
    assert [[order[i] for i in row] for row in heat.z] == [
        ["kept", "repeat", NOT_DRAWN],
        ["wrong answer", "malformed", NOT_DRAWN],
    ]
    assert "answer given: 2" in heat.text[0][0]
    assert fig.layout.title.text.startswith("a grid") and "2 of 4 responses verified" in fig.layout.title.text
    curves = [t for t in fig.data if t.type == "scatter" and t.x[0] is not None]
    assert [list(t.x) for t in curves] == [[1, 2, 3]] * 2
    assert list(curves[1].y) == [0.5, 0.5, 1.0]  # coverage
    with pytest.raises(ValueError, match="prompts"):
        rejection_figure(["only one"], grid, 1, "a grid")


def test_pipeline_figure_lays_the_stages_end_to_end():
    history = json.loads((CHECKPOINTS / "r1" / "history.json").read_text())
    assert list(history) == list(STAGE_LABELS)
    assert [stage_kind(h) for h in history.values()] == ["SFT", "RL", "SFT", "RL"]
    start = {"step": 0, "eval_accuracy": 0.0}
    fig = pipeline_figure(history, "the stages", start=start)
    assert fig.layout.title.text == "the stages"
    bands = sorted({(s.x0, s.x1) for s in fig.layout.shapes if s.type == "rect"})  # one per row
    lengths = [len(h) for h in history.values()]
    assert [round(x1 - x0) for x0, x1 in bands] == lengths
    assert bands[-1][1] == sum(lengths)
    evals = [t for t in fig.data if t.name == "held-out accuracy, greedy"]
    assert evals[0].x == (0,) and sum(len(t.x) for t in evals) == 1 + sum(
        "eval_accuracy" in r for h in history.values() for r in h
    )
    assert all(y > 0 for t in fig.data if t.yaxis == "y2" for y in t.y)  # log axis: positive only
    with pytest.raises(ValueError, match="empty"):
        pipeline_figure({}, "nothing")


def test_checkpoints_figure_shows_each_checkpoints_numbers():
    names = ("base", "r1-zero", "r1")
    metrics = {n: json.loads((CHECKPOINTS / n / "metrics.json").read_text()) for n in names}
    fig = checkpoints_figure(metrics, "side by side")
    assert fig.layout.title.text == "side by side"
    greedy = fig.data[0]
    assert list(greedy.x) == list(names)
    assert list(greedy.y) == [metrics[n]["greedy"]["pass@1"] for n in names]
    assert list(fig.data[-1].y) == [metrics[n]["greedy"]["mean_length"] for n in names]
    with pytest.raises(ValueError, match=r"sampled_t0\.6"):
        checkpoints_figure({"x": {"greedy": {"pass@1": 1.0, "mean_length": 3.0}}}, "broken")


def test_sft_example_figure_colours_the_parts_the_loss_trains():
    from r1mini.reasoning import decode, generate_tasks
    from r1mini.training import encode_batch
    from r1mini.viz.r1_pipeline import example_segments, sft_example_figure

    task = generate_tasks("arithmetic", 1, seed=0, difficulty=2)[0]
    batch = encode_batch([task], loss_on="response")
    tokens = [decode([i]) for i in batch.tokens[0].tolist()]
    weights = batch.weights[0].tolist()
    parts = example_segments(tokens, weights)
    assert parts[0] == "prompt" and parts[-1] == "end"
    assert all((part == "prompt") == (w == 0) for part, w in zip(parts, weights, strict=True))
    assert [t for t, p in zip(tokens, parts, strict=True) if p == "answer"] == list(task.answer)
    fig = sft_example_figure(tokens, weights, "one example")
    assert_labelled(fig)
    assert sum(len(trace.x) for trace in fig.data) == len(tokens)


def test_data_scale_style_and_scenario_figures():
    from r1mini.viz.r1_pipeline import R1_DATA, data_scale_figure, scenario_figure, style_figure

    ours = {name: 10 * (i + 1) for i, name in enumerate(R1_DATA)}
    fig = data_scale_figure(ours, "data", log=True)
    assert_labelled(fig)
    assert list(fig.data[1].y) == list(ours.values()) and fig.layout.yaxis.type == "log"
    assert fig.data[0].text[0] == "thousands" and fig.data[0].y[1] == 600_000
    shares = {"a": {"grouped": 0.5, "plain": 0.5, "spaced": 0, "other": 0, "none": 0, "rater": 1.5}}
    fig = style_figure(shares, "styles")
    assert_labelled(fig)
    assert {t.name: t.y[0] for t in fig.data}["grouped"] == 0.5 and "rater 1.50" in fig.data[0].x[0]
    history = [{"step": 0, "eval_accuracy": 0.9, "eval_preference": 0.5}] + [
        {"step": s, "reward_rule": 2.8, "reward_preference": 0.1 * s} for s in range(1, 6)
    ]
    fig = scenario_figure(history, "stage 4", {0: 1.0, 5: 1.2})
    assert_labelled(fig, axes=False)
    names = {trace.name for trace in fig.data}
    assert "hidden rater's mean score (of 2)" in names and "held-out learned reward, greedy" in names
