"""The website's interactive views: every state a site figure holds equals what the live function
draws for those values, its controls switch exactly those states, and replays and answer boxes
hold what they should (and answer boxes not the answer)."""

import hashlib
import json
import math
import re

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import pytest

from r1mini.viz import Interactive, InteractiveHTML
from r1mini.viz.exercises import answer_box, canonical, check, float_bin
from r1mini.viz.replay import animated_figure, spread, stream_figure
from r1mini.viz.site import MAX_STATES, choices, site_figure, site_html, state_grid


def curve(a: float, b: int, kind: str = "sin") -> go.Figure:
    x = np.linspace(0, 1, 11)
    y = np.sin(a * x) + b if kind == "sin" else np.cos(a * x) - b
    fig = go.Figure(go.Scatter(x=x.tolist(), y=y.tolist(), name=kind))
    fig.add_hline(y=b)
    return fig.update_layout(title=f"a={a:g} b={b} {kind}")


CONTROLS = {
    "a": widgets.FloatSlider(value=0.5, min=0.0, max=2.0, step=0.25, description="α"),
    "b": widgets.IntSlider(value=3, min=0, max=40, description="β"),
    "kind": widgets.Dropdown(options=[("sine", "sin"), ("cosine", "cos")], value="sin", description="f"),
}


def test_choices_of_each_control():
    assert (
        choices(CONTROLS["a"])[:3] == [("0", 0.0), ("0.25", 0.25), ("0.5", 0.5)]
        and len(choices(CONTROLS["a"])) == 9
    )
    assert len(choices(CONTROLS["b"])) == 41
    assert choices(CONTROLS["kind"]) == [("sine", "sin"), ("cosine", "cos")]
    assert choices(widgets.Checkbox(value=True)) == [("off", False), ("on", True)]
    assert choices(widgets.SelectionSlider(options=[("1K", 1024), ("2K", 2048)])) == [
        ("1K", 1024),
        ("2K", 2048),
    ]


def test_the_grid_is_capped_and_keeps_defaults_and_ends():
    grid = state_grid(CONTROLS)
    assert math.prod(len(v) for v in grid.values()) <= MAX_STATES
    for name, widget in CONTROLS.items():
        values = [v for _, v in grid[name]]
        everything = [v for _, v in choices(widget)]
        assert widget.value in values and values[0] == everything[0] and values[-1] == everything[-1]
    assert grid["kind"] == choices(CONTROLS["kind"])  # a menu's options are all kept
    fixed = state_grid(CONTROLS, site_values={"b": [0, 7]})
    assert [v for _, v in fixed["b"]] == [0, 7]


def test_every_state_is_the_live_figure_for_its_values():
    fig = site_figure(curve, CONTROLS)
    states = fig.layout.meta["r1mini_states"]
    grid = state_grid(CONTROLS)
    assert len(states) == math.prod(len(v) for v in grid.values())
    for state in states:
        values = {n: dict(grid[n])[state["values"][n]] for n in grid}
        live = curve(**values)
        start, end = state["traces"]
        assert end - start == len(live.data)
        for ours, theirs in zip(fig.data[start:end], live.data, strict=True):
            assert np.allclose(np.asarray(ours.y, float), np.asarray(theirs.y, float), atol=1e-6)
    # the visible traces are the default state's, and the layout is its layout
    visible = [i for i, t in enumerate(fig.data) if t.visible]
    default = next(s for s in states if s["values"] == {"a": "0.5", "b": "3", "kind": "sine"})
    assert visible == list(range(*default["traces"]))
    assert fig.layout.title.text == "a=0.5 b=3 sin"


def test_the_controls_show_the_state_they_name():
    fig = site_figure(curve, CONTROLS)
    states = fig.layout.meta["r1mini_states"]
    by_span = {tuple(s["traces"]): s["values"] for s in states}

    def shown(args):
        visible = [i for i, v in enumerate(args[0]["visible"]) if v]
        return by_span[(visible[0], visible[-1] + 1)], args[1]["title"]["text"]

    slider = fig.layout.sliders[0]
    for step in slider.steps:  # the default combination of the menu's controls: α 0.5, β 3
        values, title = shown(step.args)
        assert values["kind"] == step.label and values["a"] == "0.5" and values["b"] == "3"
        assert title == f"a=0.5 b=3 {dict(choices(CONTROLS['kind']))[step.label]}"
    for button in fig.layout.updatemenus[0].buttons:
        values, _ = shown(button.args)
        assert button.label == f"α {values['a']} · β {values['b']}" and values["kind"] == "sine"
        steps = button.args[1]["sliders"][0]["steps"]
        assert [shown(s["args"])[0]["kind"] for s in steps] == ["sine", "cosine"]
        assert all(shown(s["args"])[0]["a"] == values["a"] for s in steps)
    note = fig.layout.annotations[-1].text
    assert note.startswith("On this page: α 0, ") and "β 0, " in note


def test_interactive_uses_the_site_figure_only_when_building_the_site(monkeypatch):
    view = Interactive(curve, a=CONTROLS["a"], b=CONTROLS["b"])
    monkeypatch.delenv("R1MINI_SITE", raising=False)
    assert "r1mini_states" not in view._repr_mimebundle_()["text/html"]
    monkeypatch.setenv("R1MINI_SITE", "1")
    assert "r1mini_states" in view._repr_mimebundle_()["text/html"]
    html_view = InteractiveHTML(lambda kind: f"<p>{kind}</p>", kind=CONTROLS["kind"])
    assert "<select>" in html_view._repr_mimebundle_()["text/html"]


def test_site_html_holds_every_state_one_shown():
    page = site_html(
        lambda kind, b: f"<p>{kind}/{b}</p>", {"kind": CONTROLS["kind"], "b": widgets.IntSlider(1, 0, 2)}
    )
    assert page.count("data-state=") == 6 and page.count('style="display:none"') == 5
    assert '<div data-state="0,1" style=""><p>sin/1</p></div>' in page


def test_animations_keep_the_last_frame_and_play_through():
    figures = [
        go.Figure(go.Scatter(x=list(range(n)), y=list(range(n)))).update_layout(title=f"{n}")
        for n in range(1, 9)
    ]
    fig = animated_figure(figures, list(range(1, 9)))
    assert [f.name for f in fig.frames] == [str(n) for n in range(1, 9)]
    assert len(fig.data[0].x) == 8 and fig.layout.sliders[0].active == 7
    assert spread(500, 60)[-1] == 499 and len(spread(500, 60)) <= 60
    events = [(0, "<think>\n", "thinking"), (1, "<think>\n", "thinking"), (0, "7", "answer")]
    replay = stream_figure(["a", "b"], events, [2, 3], ["reward 2", ""])
    assert len(replay.frames) == 3
    first, last = replay.frames[0].layout.annotations, replay.frames[-1].layout.annotations
    assert "think" not in first[0].text and "&lt;think&gt;<br>" in last[0].text
    assert "reward 2" in last[0].text and '<span style="color:#000000">7</span>' in last[0].text


@pytest.mark.parametrize(
    ("expected", "accepted", "refused"),
    [(58, ["58"], ["57", "58.5"]), (True, ["True"], ["False"]), ("abc", ["abc"], ["abd"])],
)
def test_answer_boxes_hold_digests_not_answers(expected, accepted, refused):
    box = answer_box(expected)
    config = json.loads(box.split("const c = ")[1].split("; const root")[0])
    assert str(expected) not in re.sub("[0-9a-f]{10,}", "", box)  # digests, salt and id: hex
    kind, keys = canonical(expected)
    digest = {hashlib.sha256(f"{config['salt']}{k}".encode()).hexdigest() for k in keys}
    assert set(config["digests"]) == digest and kind == config["kind"]


def test_float_answers_are_binned_within_the_tolerance():
    expected, tol = 0.05597, 0.02
    box = json.loads(answer_box(expected, tol).split("const c = ")[1].split("; const root")[0])
    accepted = {
        hashlib.sha256(f"{box['salt']}{float_bin(x, tol)}".encode()).hexdigest() in box["digests"]
        for x in (expected, expected * 1.012, expected / 1.012)
    }
    refused = {
        hashlib.sha256(f"{box['salt']}{float_bin(x, tol)}".encode()).hexdigest() in box["digests"]
        for x in (expected * 1.021, expected / 1.021, -expected)
    }
    assert accepted == {True} and refused == {False}


def test_check_prints_the_verdicts_and_shows_a_box_on_the_site(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("R1MINI_SITE", raising=False)
    assert check(58, 58) and not check(57, 58) and not check(None, 58)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Correct: 58.",
        "Not quite: 57 is not the value the model gives. Try again.",
        "Not answered yet: replace `None` with your answer and run the cell again.",
    ]
    monkeypatch.setenv("R1MINI_SITE", "1")
    monkeypatch.setenv("R1MINI_ANSWERS", str(tmp_path / "answers.jsonl"))
    shown = []
    monkeypatch.setattr("r1mini.viz.exercises.display", shown.append)
    check(None, 0.5)
    assert "r1mini-exercise" in shown[0].data
    assert json.loads((tmp_path / "answers.jsonl").read_text())["expected"] == 0.5
