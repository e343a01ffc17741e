"""r1mini.viz.r1_zero: the length fit recovers a known line; the figures are labelled and show the
numbers they were given; the HTML view escapes, redraws and carries its static fallback."""

from __future__ import annotations

import ipywidgets as widgets
import pytest
from helpers import assert_labelled

from r1mini.viz.r1_zero import (
    LengthFit,
    length_figure,
    length_fit,
    live_figure,
    replay_figure,
    responses_html,
    reward_model_figure,
    training_steps,
)
from r1mini.viz.training import LiveCurves
from r1mini.viz.widgets import InteractiveHTML


def history(steps: int = 20) -> list[dict]:
    """A GRPO-like history whose length is exactly 10 + 40 · share, with held-out evaluations."""
    records: list[dict] = [
        {"step": 0, "eval_accuracy": 0.0, "eval_reasoning_share": 0.0, "eval_length": 10.0}
    ]
    for step in range(1, steps + 1):
        share = min(1.0, step / steps + (0.1 if step % 3 == 0 else 0.0))
        records.append(
            {
                "step": step,
                "reward": 1 + share * 0.8,
                "accuracy": share * 0.8,
                "reasoning_share": share,
                "response_length": 10.0 + 40.0 * share,
            }
        )
        if step % 5 == 0:
            records[-1].update(eval_accuracy=share, eval_reasoning_share=share, eval_length=10 + 40 * share)
    return records


def test_training_steps_skip_evaluation_only_records():
    records = history(6)
    assert [r["step"] for r in training_steps(records)] == list(range(1, 7))


def test_length_fit_recovers_an_exact_line():
    fit = length_fit(history())
    assert fit.direct == pytest.approx(10.0) and fit.reasoning == pytest.approx(50.0)
    assert fit.r_squared == pytest.approx(1.0)
    assert LengthFit(10.0, 50.0, 1.0).predict(0.25) == pytest.approx(20.0)


def test_length_fit_rejects_what_determines_no_line():
    with pytest.raises(ValueError, match="at least 2"):
        length_fit(history(1))
    flat = [dict(r, reasoning_share=0.5) for r in history(4)]
    with pytest.raises(ValueError, match="same reasoning share"):
        length_fit(flat)


def test_replay_figure_draws_up_to_the_step_on_the_whole_run_axes():
    records = history()
    fig = replay_figure(records, 7, "replay")
    assert "step 7 of 20" in fig.layout.title.text
    assert max(max(trace.x) for trace in fig.data) <= 7
    assert list(fig.layout.xaxis.range) == [0, 21]
    assert len(fig.layout.shapes) == 4  # the step's line in each panel
    with pytest.raises(ValueError, match="step=21"):
        replay_figure(records, 21, "replay")


def test_length_and_live_figures_are_labelled():
    records = history()
    fig = length_figure(records, length_fit(records), "lengths")
    assert_labelled(fig)
    assert len(fig.data) == 4  # per step, mean, predicted, held-out
    live = live_figure(records[:6], records, "live")
    assert_labelled(live)
    assert len(live.data) == 6  # shipped and live, three panels
    assert list(live.data[0].x) == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="not GRPO curves"):
        live_figure(records, records, "live", keys=("loss",))


def test_reward_model_figure_shows_both_rewards():
    kinds = {
        "right": {"rule": 1.0, "learned": 0.7, "n": 3},
        "tampered": {"rule": 0.0, "learned": 0.7, "n": 3},
    }
    fig = reward_model_figure(kinds, "rule vs learned")
    assert_labelled(fig)
    assert [list(trace.y) for trace in fig.data] == [[1.0, 0.0], [0.7, 0.7]]
    with pytest.raises(ValueError, match="empty"):
        reward_model_figure({}, "nothing")


def test_responses_html_escapes_and_notes():
    out = responses_html(
        [("base <1>", "<think>\n\n</think>\n<answer>9</answer>", "reward 1")], "one question"
    )
    assert "&lt;think&gt;" in out and "<think>" not in out
    assert "base &lt;1&gt;" in out and "reward 1" in out and "one question" in out


def test_interactive_html_redraws_and_carries_a_static_fallback():
    slider = widgets.IntSlider(value=2, min=0, max=5)
    view = InteractiveHTML(lambda n: f"<b>{n}</b>", n=slider)
    assert view.output.value == "<b>2</b>"
    bundle = view._repr_mimebundle_()
    assert bundle["text/html"] == "<b>2</b>"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    slider.value = 4
    assert view.output.value == "<b>4</b>" and view.html() == "<b>4</b>"
    with pytest.raises(ValueError, match="control"):
        InteractiveHTML(lambda: "")


def test_live_curves_draw_the_live_figure_and_redraw_their_handle():
    drawn = []

    class Handle:
        def update(self, obj) -> None:
            drawn.append(obj.data)

    records = history(5)
    view = LiveCurves(build=lambda done: live_figure(done, records, "live"), every=2)
    view.redraw()  # nothing shown, nothing recorded: no error
    view.handle = Handle()
    for record in training_steps(records):
        view(record)
    assert [r["step"] for r in view.history] == [1, 2, 3, 4, 5]
    assert len(drawn) == 2 and "plotly" in drawn[-1].lower()
    view.redraw()
    assert len(drawn) == 3
    assert list(view.figure().data[1].x) == [1, 2, 3, 4, 5]


def test_ladder_figure_and_table():
    from r1mini.reasoning.code_check import CodeVerdict
    from r1mini.viz.r1_zero import ladder_figure, ladder_html

    words = CodeVerdict("not code", "words")
    right = CodeVerdict("correct", "passes")
    fig = ladder_figure({0: [words, words], 20: [words, right]}, "ladder")
    assert_labelled(fig)
    shares = {trace.name: list(trace.y) for trace in fig.data}
    assert shares["not code"] == [1.0, 0.5] and shares["correct"] == [0.0, 0.5]
    assert shares["not python"] == shares["fails tests"] == [0.0, 0.0]
    table = ladder_html(["sort 3 1", "sort 2 9"], [None, "(42,)+(1,3)"], [words, right])
    assert "(no answer block)" in table and "(42,)+(1,3)" in table and table.count("<tr>") == 3
