"""Chapter 10 views: the kernels' source read without Triton, and the figures, with titles, axis
titles and hover text."""

import importlib
import inspect

import pytest
import torch
from helpers import assert_labelled

from r1mini.kernels.moe_experts_launch import align_by_expert
from r1mini.kernels.split_kv import merge_weights
from r1mini.viz.kernels import (
    block_scale_heatmap,
    error_curves,
    expert_layout_figure,
    layout_stats,
    split_kv_figure,
    triton_sources,
)


def test_expert_layout_figure_shows_every_row() -> None:
    ids = torch.tensor([[3, 0], [3, 1], [0, 3], [3, 2], [1, 0]])  # [N=5, k=2]
    pairs, block_expert = align_by_expert(ids, n_experts=5, block_m=4)
    stats = layout_stats(block_expert, 10, 4)
    counts = torch.bincount(ids.flatten(), minlength=5)
    assert stats["used_blocks"] == int((-(-counts // 4)).sum())  # ceil per expert
    assert stats["padding_rows"] == stats["used_blocks"] * 4 - 10
    fig = expert_layout_figure(pairs, block_expert, 10, 2, 4, tokens=list("abcde"))
    assert_labelled(fig)
    assert sum(len(t.x) for t in fig.data) == pairs.numel()
    names = {t.name for t in fig.data}
    assert {"expert 0", "expert 3", "padding", "unused block"} <= names
    hover = [h for t in fig.data if t.name == "expert 3" for h in t.text]
    assert any("token 0 'a', slot 0" in h for h in hover)


def test_split_kv_figure_labels_each_range() -> None:
    probs = torch.softmax(torch.randn(10), 0)
    lse_parts = torch.tensor([0.5, -1.0, 2.0])
    fig = split_kv_figure(probs, 4, merge_weights(lse_parts))
    assert_labelled(fig)
    assert [len(t.x) for t in fig.data] == [4, 4, 2]
    assert fig.data[0].name.startswith("range 0: weight")
    assert fig.layout.title.text.startswith("3 range(s) of 4 cache positions")


def test_scale_heatmap_and_error_curves() -> None:
    fig = block_scale_heatmap(torch.rand(3, 4) + 0.1, "scales", "token")
    assert_labelled(fig)
    assert "channels 128-255" in fig.data[0].text[0][1]
    fig = error_curves(
        [1, 10], {"a": [0.1, 0.2], "b": [0.1, 0.1]}, "t", "x", "y", marker_x=5, marker_label="m"
    )
    assert_labelled(fig)
    assert fig.layout.xaxis.type == "log" and len(fig.data) == 2
    assert [shape.x0 for shape in fig.layout.shapes] == [5]  # the vertical marker
    assert fig.layout.annotations[0].text == "m" and abs(10 ** fig.layout.annotations[0].x - 5) < 1e-9


@pytest.mark.triton
def test_triton_sources_are_the_jitted_functions_as_python_sees_them() -> None:
    """Read from the files without Triton, they equal what importing the modules finds."""
    from triton.runtime.jit import KernelInterface

    for module_name, functions in triton_sources().items():
        module = importlib.import_module(f"r1mini.kernels.{module_name}")
        jitted = [
            name
            for name, obj in vars(module).items()
            if isinstance(obj, KernelInterface) and obj.fn.__module__ == module.__name__
        ]
        assert list(functions) == jitted, module_name
        for name, source in functions.items():
            assert source + "\n" == inspect.getsource(getattr(module, name).fn), name
