"""Training-curve figures: the numbers drawn are the history's, and the live callback keeps them."""

import pytest

from r1mini.viz import training
from r1mini.viz.training import LiveCurves, training_curves

HISTORY = [{"step": i, "loss": 1 / i, "load_max_over_mean": [2 - i / 10, 1.5]} for i in range(1, 11)]


def test_curves_draw_the_history():
    fig = training_curves(HISTORY, ["loss", "load_max_over_mean"], title="mini")
    assert fig.layout.title.text == "mini"
    assert [t.name for t in fig.data] == [
        "loss",
        "load_max_over_mean (MoE layer 0)",
        "load_max_over_mean (MoE layer 1)",
    ]
    assert list(fig.data[0].y) == [r["loss"] for r in HISTORY]
    assert list(fig.data[1].x) == list(range(1, 11))
    assert fig.layout.xaxis2.title.text == "training step"
    assert fig.layout.yaxis.title.text == "loss"
    assert all(t.hovertemplate for t in fig.data)


def test_live_curves_is_a_trainer_callback(monkeypatch: pytest.MonkeyPatch):
    shown = []

    class Handle:
        def update(self, obj) -> None:
            shown.append(obj.data)

    monkeypatch.setattr(training, "display", lambda obj, display_id: shown.append(obj.data) or Handle())
    curves = LiveCurves(["loss"], every=4).show()
    assert "waiting for the first step" in shown[0]
    for record in HISTORY:
        curves(record)
    assert curves.history == HISTORY
    assert len(shown) == 3 and "plotly" in shown[-1].lower()  # shown, then redrawn at steps 4 and 8
    curves.redraw()  # after the last step: the finished run, which a book build keeps
    assert len(shown) == 4
    assert list(curves.figure().data[0].y) == [r["loss"] for r in HISTORY]


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least one metric"):
        training_curves(HISTORY, [])
    with pytest.raises(ValueError, match="every=0 must be >= 1"):
        LiveCurves(["loss"], every=0)
    with pytest.raises(ValueError, match="metric names to plot, or a `build`"):
        LiveCurves()
