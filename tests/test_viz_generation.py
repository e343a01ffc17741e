"""r1mini.viz.generation: the chapter 08 figures carry the numbers they were given, with titles,
axis titles and hover text; the trace diff marks the first diverging line."""

from __future__ import annotations

import pytest
from helpers import SLIP, SLIP_TASK

from r1mini.reasoning import score_sample
from r1mini.reasoning.traces import first_divergence, reference_response
from r1mini.viz.generation import (
    FADED,
    RIGHT,
    WRONG,
    divergence_figure,
    k_curves_figure,
    length_figure,
    resample_figure,
    step_times_figure,
    temperature_figure,
    trace_diff_html,
)


def test_step_times_in_milliseconds():
    fig = step_times_figure({"cached": [0.01, 0.002], "uncached": [0.01, 0.02]}, "steps")
    assert fig.layout.title.text == "steps"
    assert [t.name for t in fig.data] == ["cached", "uncached"]
    assert list(fig.data[1].y) == pytest.approx([10.0, 20.0])
    assert "ms" in fig.layout.yaxis.title.text and "ms" in fig.data[0].hovertemplate
    with pytest.raises(ValueError, match="empty"):
        step_times_figure({}, "none")


def test_resample_figure_colours_roles_and_fades_cut_tokens():
    probs, tokens = [0.7, 0.25, 0.05], ["3", "1", "2"]
    fig = resample_figure(
        probs, tokens, [True, True, False], "1", "3", ["4024", "3824", "4024", None], "3824", "t"
    )
    bars, votes = fig.data
    assert list(bars.x) == ["'3'", "'1'", "'2'"] and list(bars.marker.color) == [WRONG, RIGHT, FADED]
    assert "cut by top-p" in bars.customdata[2]
    assert list(votes.x) == ["4024", "3824", "(no answer)"] and list(votes.y) == [2, 1, 1]
    assert list(votes.marker.color) == [WRONG, RIGHT, WRONG]
    with pytest.raises(ValueError, match="one entry per token"):
        resample_figure(probs, tokens, [True], "1", "3", [], "3824", "t")


def test_temperature_and_k_curves():
    summaries = {
        0.0: {"pass@1": 0.9, "pass@k": 0.9, "cons@n": 0.9},
        1.0: {"pass@1": 0.8, "pass@k": 0.95, "cons@n": 0.85},
    }
    fig = temperature_figure(summaries, 4, "sweep")
    assert [t.name for t in fig.data] == ["pass@1", "pass@4", "cons@4"]
    assert list(fig.data[1].y) == [0.9, 0.95]
    curves = {"r1": {"pass@k": [0.9, 0.95], "cons@k": [0.9, 0.9]}}
    fig = k_curves_figure(curves, [1, 2], "k")
    assert [t.name for t in fig.data] == ["r1: pass@k", "r1: cons@k"]
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.tickvals) == [1, 2]


def test_length_and_divergence_figures():
    right = score_sample(SLIP_TASK, reference_response(SLIP_TASK))
    wrong = score_sample(SLIP_TASK, SLIP)
    fig = length_figure({"r1": [right, wrong, right]}, "lengths")
    assert [t.name for t in fig.data] == ["right", "wrong"]
    assert len(fig.data[0].x) == 2 and len(fig.data[1].x) == 1
    slips = [first_divergence(SLIP_TASK, SLIP)] * 3
    fig = divergence_figure(slips, 4, "where")
    assert list(fig.data[0].x) == ["line 1", "line 2", "line 3", "line 4", "answer"]
    assert list(fig.data[0].y) == [0, 0, 3, 0, 0]


def test_trace_diff_marks_the_first_diverging_line_and_escapes():
    out = trace_diff_html([(SLIP_TASK, SLIP)])
    assert f'font-weight:bold;border-left:4px solid {WRONG}">13-4-1=8 b1' in out
    assert f'font-weight:bold;border-left:4px solid {WRONG}">3-4-1=0 b0' in out
    assert 'font-style:italic">5-1=4 b0' in out and "4024" in out
    assert "<think>" not in out
