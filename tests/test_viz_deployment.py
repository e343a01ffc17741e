"""r1mini.viz.deployment: the chapter 11 figures are labelled and show the deployment arithmetic."""

import torch
from helpers import assert_labelled

from r1mini import ModelConfig
from r1mini.deployment import Hardware, decode_step, memory_plan, place_experts, simulate_expert_parallel
from r1mini.viz import Interactive
from r1mini.viz.deployment import (
    memory_figure,
    memory_view,
    placement_figure,
    placement_view,
    roofline_figure,
    step_imbalance_figure,
)

V3 = ModelConfig.preset("deepseek-v3-671b")
HW = Hardware("test GPU", memory_gb=100, bandwidth_tb_s=4.0, bf16_tflops=800, fp8_tflops=1600)


def test_memory_figure_marks_capacity_and_verdict():
    fig = memory_figure(V3, n_gpus=8, memory_gb=141, batch=32, context=32768)
    assert_labelled(fig)
    plan = memory_plan(V3, 8, 141e9, 32, 32768)
    assert any(abs(shape.y0 - plan.total_bytes / 1e9) < 1e-6 for shape in fig.layout.shapes)
    assert "longest context" in fig.layout.title.text
    tiny = memory_figure(V3, n_gpus=1, memory_gb=80, precision="bf16")
    assert "do not fit" in tiny.layout.title.text


def test_memory_view_is_interactive():
    view = memory_view(V3)
    assert isinstance(view, Interactive)
    view.controls["n_gpus"].value = 16
    assert "16 ×" in view.figure().layout.title.text


def test_roofline_figure_has_ridges():
    fig = roofline_figure(V3, [HW], contexts=(4096,))
    assert_labelled(fig)
    assert any("ridge" in trace.name for trace in fig.data)
    assert fig.data[-1].y[0] == HW.ridge("fp8")


def test_roofline_title_says_where_a_ridge_is_reached():
    fig = roofline_figure(V3, [HW], contexts=(4096,))
    assert max(fig.data[0].y) < HW.ridge("fp8")  # out of reach at every batch shown
    assert "below every ridge up to batch 4096" in fig.layout.title.text
    slow = Hardware("slow", memory_gb=100, bandwidth_tb_s=4.0, bf16_tflops=40, fp8_tflops=80)
    first = next(
        b
        for b in (1, 2, 4, 8, 16, 32, 64, 128, 256)
        if decode_step(V3, b, 4096)["intensity"] >= slow.ridge("fp8")
    )
    title = roofline_figure(V3, [slow], contexts=(4096,)).layout.title.text
    assert f"4K context reaches the slow ridge at batch {first}" in title


def _routing(n_tokens: int = 40, n_experts: int = 8, k: int = 2) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(n_tokens, n_experts, generator=gen).topk(k, dim=-1).indices  # [N, k]


def test_placement_figure_and_view():
    ids = _routing()
    sequence = torch.arange(40) // 10  # 4 rows of 10 tokens
    home = sequence * 2 // 4
    load = torch.bincount(ids.flatten(), minlength=8).float()
    placement = place_experts(8, 2, "balanced", load, redundant_per_device=1)
    fig = placement_figure(ids, home, placement, "test")
    assert_labelled(fig)
    result = simulate_expert_parallel(ids, home, placement)
    bars = [trace for trace in fig.data if trace.type == "bar"]
    assert [list(bar.y) for bar in bars] == result.pairs.T.tolist()  # per expert, per device
    assert sum(sum(bar.y) for bar in bars) == ids.numel()
    (heatmap,) = [trace for trace in fig.data if trace.type == "heatmap"]
    assert heatmap.z.tolist() == result.traffic.tolist()
    assert f"busiest device {result.imbalance:.2f}× the mean" in fig.layout.title.text
    assert f"{result.remote_share:.0%} of copies cross devices" in fig.layout.title.text
    view = placement_view({1: ids, 2: _routing()}, sequence, n_experts=8)
    for placement in view.controls["placement"].options:
        view.controls["placement"].value = placement
        assert_labelled(view.figure())


def test_step_imbalance_figure_draws_each_step_and_the_pooled_level():
    curves, pooled = {"a": [1.5, 1.2, 1.8], "b": [2.0, 1.0, 1.25]}, {"a": 1.1, "b": 1.3}
    fig = step_imbalance_figure(curves, pooled)
    assert_labelled(fig)
    for name, values in curves.items():
        (steps,) = [trace for trace in fig.data if trace.name == name]
        assert list(steps.x) == [1, 2, 3] and list(steps.y) == values
        (level,) = [trace for trace in fig.data if trace.name == f"{name}, all steps pooled"]
        assert list(level.x) == [1, 3] and list(level.y) == [pooled[name]] * 2
    assert [shape.y0 for shape in fig.layout.shapes] == [1.0]  # the perfect-balance line
