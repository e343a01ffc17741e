"""r1mini.viz: every figure has traces, a title and axis titles, and shows the accounting's numbers."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
import torch
from helpers import assert_labelled

from r1mini import ModelConfig, Transformer, count_parameters, kv_cache_bytes_per_token
from r1mini.viz import (
    Interactive,
    attention_heatmap,
    attention_view,
    check,
    expert_load_bars,
    group_routing_figure,
    imbalance,
    kv_cache_figure,
    kv_cache_per_token,
    kv_cache_view,
    layer_parameters,
    load_balance_figure,
    parameter_breakdown,
    parameter_view,
    routing_heatmap,
    routing_matrix,
)

V3 = ModelConfig.preset("deepseek-v3-671b")


@pytest.fixture(scope="module")
def recorded():
    config = ModelConfig.preset("nano")
    torch.manual_seed(0)
    model = Transformer(config).eval()
    tokens = torch.randint(0, config.vocab_size, (1, 10))
    with torch.no_grad(), model.recording() as records:
        model(tokens)
    return config, records, [str(int(t)) for t in tokens[0]]


@pytest.mark.parametrize("preset", ["deepseek-v3-671b", "mini", "deepseek-v2-lite-16b"])
def test_parameter_breakdown_equals_accounting(preset: str):
    config = ModelConfig.preset(preset)
    counts = count_parameters(config)
    fig = parameter_breakdown(config)
    assert_labelled(fig, axes=False)
    sun = fig.data[0]
    values = dict(zip(sun.ids, sun.values, strict=True))
    assert sun.values[0] == counts["total"]
    for part, n in counts["breakdown"].items():
        if n:
            assert values[part] == n
    active = values.get("routed_experts/activated per token", 0)
    idle = values.get("routed_experts/idle for that token", 0)
    assert counts["total"] - idle == counts["activated"]
    assert active + idle == counts["breakdown"]["routed_experts"]


def test_layer_parameters_stacks_to_total_and_activated():
    counts = count_parameters(V3)
    fig = layer_parameters(V3)
    assert_labelled(fig)
    assert sum(t.y[0] for t in fig.data) == counts["total"]
    assert sum(t.y[1] for t in fig.data) == pytest.approx(counts["activated"], abs=1)


def test_kv_cache_figure_equals_accounting():
    kv = kv_cache_bytes_per_token(V3)
    per_token = kv_cache_per_token(V3, gqa_groups=8)
    assert per_token["MHA"] == kv["mha"]
    assert per_token["MLA (latent cache)"] == kv["absorbed_mla"]
    assert per_token["GQA (8 KV heads)"] == 2 * 8 * V3.v_head_dim * V3.n_layers * 2
    assert per_token["MHA, keys 192 wide (= naive MLA)"] == kv["naive_mla"] == 128 * (192 + 128) * 61 * 2
    fig = kv_cache_figure(V3, gqa_groups=8, batch=2)
    assert_labelled(fig)
    mla = fig.data[-1]
    assert mla.y[-1] == pytest.approx(mla.x[-1] * kv["absorbed_mla"] * 2 / 2**30)
    assert "GiB" in fig.layout.yaxis.title.text and "tokens" in fig.layout.xaxis.title.text


def test_kv_cache_rejects_a_group_count_that_does_not_divide_the_heads():
    with pytest.raises(ValueError, match="gqa_groups=3"):
        kv_cache_per_token(V3, gqa_groups=3)


def test_views_carry_a_static_figure():
    for view in (parameter_view("mini"), kv_cache_view("mini")):
        bundle = view._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert "plotly-graph-div" in bundle["text/html"]
        assert "<script src=" not in bundle["text/html"]


def test_interactive_needs_controls():
    with pytest.raises(ValueError, match="control"):
        Interactive(lambda: go.Figure())


def test_attention_heatmap_shows_the_recorded_probabilities(recorded):
    _config, records, tokens = recorded
    probs = records[1]["attention"][0]  # [B, H, T, S]
    fig = attention_heatmap(probs, tokens, head=1)
    assert_labelled(fig)
    assert torch.allclose(torch.tensor(fig.data[0].z), probs[0, 1].float())
    view = attention_view(records, tokens)
    assert view.figure().data[0].z is not None


def test_routing_figures_show_the_recorded_choice(recorded):
    config, records, tokens = recorded
    record = records[1]["routing"][0]
    matrix = routing_matrix(record, config.n_routed_experts)
    assert (matrix > 0).sum(-1).eq(config.n_activated_experts).all()
    fig = routing_heatmap(record, tokens, config, layer=1)
    assert_labelled(fig)
    assert torch.allclose(torch.tensor(fig.data[0].z), matrix)
    groups = group_routing_figure(record, config, token=3)
    assert_labelled(groups)
    outlined = [int(x[1:]) for t in groups.data for x, w in zip(t.x, t.marker.line.width, strict=True) if w]
    assert sorted(outlined) == sorted(record["ids"][0, 3].tolist())


def test_load_figures():
    loads = torch.tensor([[30.0, 10.0, 10.0, 10.0], [15.0, 15.0, 15.0, 15.0]])
    assert imbalance(loads).tolist() == pytest.approx([2.0, 1.0])
    fig = load_balance_figure({"γ = 0.01": loads})
    assert_labelled(fig)
    assert list(fig.data[0].y) == pytest.approx([2.0, 1.0])
    bars = expert_load_bars(loads, steps=[0, 1])
    assert_labelled(bars)
    assert list(bars.data[0].y) == loads[0].tolist()


def test_check(capsys):
    assert check(58, 58) and not check(57, 58) and not check(None, 58)
    assert check(0.0561, 0.056, rel_tol=0.02)
    assert "Not answered" in capsys.readouterr().out


def test_dimension_table_reads_the_published_v3_sizes():
    from r1mini.viz.architecture import dimension_figure, dimension_table, dimension_view

    rows = {what: value for what, value, _ in dimension_table(V3)}
    assert rows["vocabulary"] == "129,280"
    assert rows["width d (residual stream)"] == "7,168"
    assert rows["dense FFN hidden width"] == "18,432"
    assert rows["expert FFN hidden width"] == "2,048"
    assert rows["attention heads"] == "128"
    assert rows["query compression rank d'_c"] == "1,536"
    assert rows["KV compression rank d_c (cached)"] == "512"
    assert rows["per head: key = nope + rope, value"] == "192 = 128 + 64, 128"
    assert rows["experts per MoE block"] == "256 routed + 1 shared"
    assert rows["routing: top-k of groups"] == "top-8 in the best 4 of 8 groups"
    assert rows["gate: score, route scale"] == "sigmoid, ×2.5"
    assert rows["context"] == "163,840 tokens (pre-trained at 4,096, YaRN ×40)"
    lite = {what: value for what, value, _ in dimension_table(ModelConfig.preset("deepseek-v2-lite-16b"))}
    assert lite["query compression rank d'_c"] == "none"  # V2-Lite projects queries directly
    fig = dimension_figure(V3)
    assert list(fig.data[0].cells.values[1]) == list(rows.values())
    assert isinstance(dimension_view("mini"), Interactive)


def test_role_routing_specialisation_and_trace_load_figures():
    from r1mini.viz.moe import role_routing_figure, specialisation_figure, trace_load_figure

    counts = torch.tensor([[3.0, 1.0, 0.0], [0.0, 1.0, 4.0]])  # [R, E]
    fig = role_routing_figure(["digit, column 0", "operator"], counts, "roles")
    assert_labelled(fig)
    heat = fig.data[0]
    assert heat.z[0].tolist() == pytest.approx([0.75, 0.25, 0.0])  # each role's choices sum to 1
    assert heat.x[0] == "e0: 100% digit, column 0" and heat.x[1] == "e1: 50% digit, column 0"
    one = {"role": 0.5, "character": 1.0, "role_given_character": 0.2, "chance": 0.01}
    fig = specialisation_figure({"trained": {1: one, 2: one}, "untrained": {1: one, 2: one}}, "bits")
    assert_labelled(fig)
    assert len(fig.data) == 2 * (3 + 1)  # per model: 3 measures and the chance markers
    fig = trace_load_figure({1: torch.tensor([4, 0, 2]), 2: torch.tensor([2, 2, 2])}, "load")
    assert_labelled(fig)
    assert "max/mean 2.00" in fig.data[0].name and "max/mean 1.00" in fig.data[1].name


def test_column_attention_figure_and_view():
    from r1mini.viz.attention import column_attention_figure, column_attention_view

    mass = torch.tensor([[0.1, 0.9], [0.2, 0.3]])  # [L, H]
    looks = {
        "trained": {"look": {"mass": mass, "uniform": 0.05, "n": 7}},
        "untrained": {"look": {"mass": torch.full((2, 2), 0.05), "uniform": 0.05, "n": 7}},
    }
    fig = column_attention_figure(looks, "look")
    assert_labelled(fig)
    assert list(fig.data[0].x) == ["L0 h0", "L0 h1", "L1 h0", "L1 h1"]
    assert list(fig.data[0].y) == pytest.approx([0.1, 0.9, 0.2, 0.3])
    assert isinstance(column_attention_view(looks), Interactive)
