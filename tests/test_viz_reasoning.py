"""r1mini.viz.reasoning: streamed responses render thinking dimmed and answer bold, escaped; the
training and comparison figures have traces, titles and the numbers they were given."""

from __future__ import annotations

import pytest
import torch

from r1mini import ModelConfig, Transformer
from r1mini.reasoning import VOCAB_SIZE, decode_response, encode_prompt, generate
from r1mini.viz.reasoning import (
    PART_STYLES,
    StreamView,
    comparison_figure,
    grpo_curves,
    metrics_table,
    moving_average,
    response_html,
    split_response,
)

RESPONSE = "<think>\n4+5=9 c0\n</think>\n<answer>9</answer>"


def test_split_response_cuts_after_end_think():
    thinking, answer = split_response(RESPONSE)
    assert thinking == "<think>\n4+5=9 c0\n</think>"
    assert answer == "\n<answer>9</answer>"
    assert split_response("<think>\n1+1") == ("<think>\n1+1", "")


def test_response_html_escapes_tags_and_styles_parts():
    out = response_html(RESPONSE)
    assert "<think>" not in out and "&lt;think&gt;" in out
    assert f'<span style="{PART_STYLES["thinking"]}">&lt;think&gt;\n4+5=9' in out
    assert f'<span style="{PART_STYLES["answer"]}">\n&lt;answer&gt;9' in out


def test_stream_view_collects_what_generate_samples():
    torch.manual_seed(0)
    config = ModelConfig.preset("mini")
    model = Transformer(config).eval()
    prompts = [encode_prompt("compute 12+35"), encode_prompt("compute 7-3")]
    view = StreamView(["a", "b", "c"])
    gen = generate(
        model, prompts, 12, temperature=1.0, vocab_limit=VOCAB_SIZE, seed=0, on_token=view.on_token(first=1)
    )
    assert view.text(0) == ""
    for column, ids in ((1, gen.generated[0]), (2, gen.generated[1])):
        assert view.text(column) == decode_response(ids).replace("<pad>", "")
    view.note(2, "reward 0 <bad>")
    assert "reward 0 &lt;bad&gt;" in view.html() and view._repr_html_() == view.html()


def test_stream_view_rejects_rows_beyond_its_columns():
    view = StreamView(["only one"])
    callback = view.on_token(first=0)
    with pytest.raises(ValueError, match="column 1"):
        callback(0, torch.tensor([10, 11]), torch.tensor([False, False]))
    with pytest.raises(ValueError, match="label"):
        StreamView([])


def test_moving_average():
    assert moving_average([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    with pytest.raises(ValueError, match="window"):
        moving_average([1.0], 0)


def test_training_curves_plot_every_metric_and_the_evaluations():
    history = [{"step": 0, "eval_accuracy": 0.0, "eval_reasoning_share": 0.0, "eval_length": 11.0}]
    history += [
        {
            "step": s,
            "reward": 1 + s / 10,
            "accuracy": s / 10,
            "reasoning_share": s / 10,
            "response_length": 10.0 + s,
        }
        for s in range(1, 11)
    ]
    history[-1].update(eval_accuracy=0.9, eval_reasoning_share=1.0, eval_length=50.0)
    fig = grpo_curves(history, "a run")
    assert fig.layout.title.text == "a run"
    assert len(fig.data) == 2 + 3 * 3  # reward has no held-out evaluation
    lengths = [t for t in fig.data if t.xaxis == "x4"]
    assert list(lengths[0].x) == list(range(1, 11))
    assert list(lengths[1].y) == pytest.approx(moving_average([10.0 + s for s in range(1, 11)], 10))
    assert list(lengths[2].x) == [0, 10] and list(lengths[2].y) == [11.0, 50.0]
    assert all(t.hovertemplate for t in fig.data)
    assert fig.layout.yaxis4.title.text == "tokens per response"
    with pytest.raises(ValueError, match="no training step"):
        grpo_curves([{"step": 1, "reward": 1, "accuracy": 0, "reasoning_share": 0}], "x")


def test_comparison_figure_shows_the_summaries():
    summaries = {
        "base": {"pass@1": 0.1, "reasoning_share": 0.2, "mean_length": 12.0},
        "r1-zero": {"pass@1": 0.7, "reasoning_share": 1.0, "mean_length": 49.0},
    }
    fig = comparison_figure(summaries, "compared")
    assert fig.layout.title.text == "compared"
    assert list(fig.data[0].y) == [0.1, 0.7] and list(fig.data[2].y) == [12.0, 49.0]
    assert all(t.hovertemplate for t in fig.data)
    with pytest.raises(ValueError, match="empty"):
        comparison_figure({}, "x")


def test_metrics_table_reads_each_column_and_names_what_is_missing():
    metrics = {
        "a": {"greedy": {"pass@1": 0.5, "mean_length": 20.0}, "held_out_tasks": 8},
        "b": {"greedy": {"pass@1": 0.25, "mean_length": 40.0}, "held_out_tasks": 8},
    }
    columns = [("greedy", "pass@1", "greedy pass@1"), ("greedy", "mean_length", "length")]
    table = metrics_table(metrics, columns)
    assert table["a"] == {"greedy pass@1": 0.5, "length": 20.0}
    assert table["b"] == {"greedy pass@1": 0.25, "length": 40.0}
    fig = comparison_figure(table, "t", shares=[("greedy pass@1", "greedy pass@1")], length="length")
    assert list(fig.data[0].y) == [0.5, 0.25] and list(fig.data[1].y) == [20.0, 40.0]
    with pytest.raises(ValueError, match=r"metrics\['a'\] has no \['sampled'\]\['pass@1'\]"):
        metrics_table(metrics, [("sampled", "pass@1", "x")])
    with pytest.raises(ValueError, match="empty"):
        metrics_table({}, columns)
