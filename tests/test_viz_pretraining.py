"""Chapter 04 figures: the curves draw the history's numbers across stages, the live callback keeps
them, and the draft view colours each guess by whether it is right."""

import math

import pytest
import torch

from r1mini.reasoning.speculative import V3_ACCEPTANCE, DraftCheck
from r1mini.reasoning.tokenizer import TOKEN_TO_ID
from r1mini.viz.pretraining import (
    acceptance_figure,
    draft_figure,
    pretraining_curves,
    token_label,
)
from r1mini.viz.training import LiveCurves


def history(steps: int, start: float) -> list[dict]:
    return [
        {"step": i, "ce": start / i, "mtp_loss": 1.1 * start / i, "load_max_over_mean": [2 - i / steps, 1.5]}
        for i in range(1, steps + 1)
    ]


def test_curves_join_the_stages_and_draw_their_numbers():
    stages = {"one": history(10, 4.0), "two": [*history(5, 1.0), {"step": 5, "eval_accuracy": 0.5}]}
    fig = pretraining_curves(stages, "base", layer_names=["block 1", "MTP block 1"], window=1)
    assert fig.layout.title.text == "base"
    by_name = {trace.name: trace for trace in fig.data}
    main = by_name["main model: token t+1"]
    assert list(main.x) == list(range(1, 16))  # stage two continues at step 11
    assert list(main.y) == pytest.approx(
        [r["ce"] for r in stages["one"]] + [r["ce"] for r in stages["two"][:5]]
    )
    assert list(by_name["MTP block 1"].y) == [1.5] * 15
    assert list(by_name["held-out accuracy, greedy"].x) == [15]
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.title.text == "nats per token"
    assert fig.layout.xaxis3.title.text == "training step"  # three panels: accuracy is there
    assert [a.text for a in fig.layout.annotations if a.text in stages] == ["one", "two"]
    assert all(trace.hovertemplate for trace in fig.data)


def test_curves_without_evaluations_have_two_panels():
    fig = pretraining_curves({"run": history(4, 2.0)}, "live")
    assert fig.layout.xaxis2.title.text == "training step"
    titles = [a.text for a in fig.layout.annotations]  # the panels' (one stage: no stage names)
    assert titles == ["cross-entropy (log axis)", "expert load: busiest ÷ mean"]
    assert {t.name for t in fig.data} >= {"MoE layer 0", "MoE layer 1"}


def test_live_curves_keep_every_step():
    curves = LiveCurves(build=lambda run: pretraining_curves({"run": run}, "live", ["a", "b"]), every=3)
    for record in history(7, 3.0):
        curves(record)
    assert len(curves.history) == 7
    assert "plotly" in curves._html().data.lower()  # what show() and each redraw display
    assert max(curves.figure().data[1].x) == 7


def test_draft_figure_marks_right_and_wrong_guesses():
    ids = [TOKEN_TO_ID[c] for c in "12+34=46"]
    tokens = torch.tensor([ids])  # [1, 8]
    main = tokens[:, 1:-1].clone()  # main's guess at i of token i+1: right
    draft = tokens[:, 2:].clone()  # draft at i of token i+2: right ...
    draft[0, 3] = TOKEN_TO_ID["9"]  # ... except the draft of token 5
    scored = torch.tensor([[False, True, True, True, True, True]])
    check = DraftCheck(tokens=tokens, main=main, draft=draft, scored=scored)
    fig = draft_figure(check, 0, "a sum")
    (heat,) = fig.data
    assert list(heat.x) == [3, 4, 5, 6, 7]
    assert list(heat.y) == ["true token", "main model (1 back)", "MTP draft (2 back)"]
    assert list(heat.text[0]) == list("34=46")
    assert list(heat.z[2]) == [1.0, 1.0, 0.0, 1.0, 1.0]
    assert heat.text[2][2] == "9"
    assert math.isnan(heat.z[1][-1])  # no main guess of the sequence's last token here
    with pytest.raises(ValueError, match="row=1"):
        draft_figure(check, 1, "")


def test_token_labels_are_short():
    assert token_label(TOKEN_TO_ID["<think>"]) == "‹t›"
    assert token_label(TOKEN_TO_ID["\n"]) == "⏎"
    assert token_label(TOKEN_TO_ID["7"]) == "7"


def test_acceptance_figure():
    fig = acceptance_figure({"a": 0.5, "b": 0.95}, "drafts")
    assert list(fig.data[0].x) == [0.5, 0.95]
    assert (fig.layout.shapes[0].x0, fig.layout.shapes[0].x1) == V3_ACCEPTANCE
    with pytest.raises(ValueError, match="rates is empty"):
        acceptance_figure({}, "")
