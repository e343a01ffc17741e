"""r1mini.viz.grpo: chapter 5's views compute GRPO's numbers with `grpo_loss` and label every figure."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import pytest
import torch
from helpers import assert_labelled

from r1mini.training import group_advantages
from r1mini.viz.grpo import (
    clipped_objective,
    clipped_objective_figure,
    group_figure,
    token_weight_figure,
    token_weights,
    update_figure,
)

TEXTS = [
    "<think>\n3-3=0 b0\n2-0=2 b0\n</think>\n<answer>7520</answer>",
    "<think>\n\n</think>\n<answer>4488</answer>",
    "<think>\n\n</think>\n<answer>7156</answer>",
]


def axis_titles(fig: go.Figure) -> list[str]:
    """The titles of the figure's x axes and y axes that carry one (panels share a y title)."""
    xs = [fig.layout[name].title.text for name in fig.layout if name.startswith("xaxis")]
    return [*xs, fig.layout.yaxis.title.text]


def test_clipped_objective_matches_eq1_and_k3():
    ratio = torch.tensor([0.5, 0.7, 1.0, 1.1, 1.5])  # [N]
    eps, beta = 0.2, 0.1
    for adv in (1.0, -2.0):
        objective, kl, clipped = clipped_objective(ratio, adv, eps, beta)
        rows = zip(ratio.tolist(), objective.tolist(), kl.tolist(), clipped.tolist(), strict=True)
        for r, j, d, flat in rows:
            k3 = 1 / r + math.log(r) - 1  # π_ref = π_old: π_ref/π_θ = 1/ρ
            surrogate = min(r * adv, min(max(r, 1 - eps), 1 + eps) * adv)
            assert d == pytest.approx(k3, rel=1e-5, abs=1e-6)
            assert j == pytest.approx(surrogate - beta * k3, rel=1e-5, abs=1e-6)
            assert flat == ((r > 1 + eps and adv > 0) or (r < 1 - eps and adv < 0))


def test_clipped_objective_rejects_bad_ratios():
    with pytest.raises(ValueError, match="ρ > 0"):
        clipped_objective(torch.tensor([0.0, 1.0]), 1.0)
    with pytest.raises(ValueError, match="advantage"):
        clipped_objective_figure(advantage=-1.0)


def test_clipped_objective_figure_shades_the_clipped_side():
    fig = clipped_objective_figure(clip_eps=0.3, beta=0.2)
    assert_labelled(fig, axes=False)
    assert all(axis_titles(fig))
    shaded = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(shaded) == 2  # one flat range per panel
    right, left = sorted(shaded, key=lambda s: s.x0, reverse=True)
    assert right.x0 == pytest.approx(1.3, abs=0.03)  # Â > 0: flat above 1 + ε
    assert left.x1 == pytest.approx(0.7, abs=0.03)  # Â < 0: flat below 1 − ε


def test_token_weights_are_the_loss_types_normalisations():
    mask = torch.zeros(3, 12)
    for row, n in enumerate((2, 5, 9)):
        mask[row, :n] = 1
    b, n_tokens, length = 3, 16, 20
    expected = {
        "grpo": [1 / (b * 2), 1 / (b * 5), 1 / (b * 9)],
        "bnpo": [1 / n_tokens] * 3,
        "dapo": [1 / n_tokens] * 3,
        "dr_grpo": [1 / (b * length)] * 3,
    }
    for loss_type, weights in expected.items():
        got = token_weights(mask, loss_type, max_completion_length=length)
        assert got.tolist() == pytest.approx(weights, rel=1e-6)
    fig = token_weight_figure(mask, length, "weights")
    assert_labelled(fig, axes=False)
    assert len(fig.data) == 6  # three aggregations × two panels


def test_group_and_update_figures():
    rewards = torch.tensor([2.0, 1.0, 1.0])
    advantages = group_advantages(rewards, 3)
    fig = group_figure(TEXTS, rewards, advantages, "a group")
    assert_labelled(fig, axes=False)
    names = {trace.name for trace in fig.data}
    assert names == {"reasons", "answers directly"}
    bars = {(trace.name, trace.yaxis): list(trace.y) for trace in fig.data}
    assert bars[("reasons", "y2")] == pytest.approx([float(advantages[0])])
    assert "&lt;think&gt;" in fig.data[0].customdata[0]  # tags escaped in the hover text
    fig = update_figure(advantages, torch.tensor([0.5, -0.2, -0.3]), TEXTS, "one update")
    assert_labelled(fig, axes=False)
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    with pytest.raises(ValueError, match="one per text"):
        update_figure(advantages, torch.zeros(2), TEXTS, "bad")
    with pytest.raises(ValueError, match="group_figure"):
        group_figure(TEXTS, rewards[:2], advantages, "bad")
