"""The live panel's Python side (`r1mini.viz.live`): the messages for bad input, the arithmetic the
page checks answers against, the rewards' verdict, the spec the page's script reads, and the panel
in live Jupyter (which calls r1mini). The page's side is tested in the built site (test_book.py)."""

from __future__ import annotations

import json

import pytest
from helpers import arithmetic_task

from r1mini.io import load
from r1mini.io.checkpoint import SHIPPED
from r1mini.reasoning import generate_text
from r1mini.reasoning.rewards import format_reward
from r1mini.reasoning.template import encode_prompt
from r1mini.reasoning.tokenizer import VOCAB, VOCAB_SIZE
from r1mini.viz.live import (
    MESSAGES,
    RESPONSE_ROOM,
    LivePanel,
    check_prompt,
    expected_answer,
    panel_html,
    site_spec,
    verdict,
)


@pytest.fixture(scope="module")
def r1():
    return load(SHIPPED / "r1")


def test_a_good_prompt_is_the_template_ids():
    ids, message = check_prompt("compute 478+56", 512)
    assert message == "" and ids == encode_prompt("compute 478+56")


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_an_empty_prompt_says_so(text):
    ids, message = check_prompt(text, 512)
    assert ids is None and message.startswith("Type a problem first")


@pytest.mark.parametrize(
    ("text", "character", "position"), [("compute 4é+5", '"é"', 10), ("<think>", '"<"', 1)]
)
def test_a_character_outside_the_vocabulary_is_named(text, character, position):
    ids, message = check_prompt(text, 512)
    assert ids is None
    assert f"cannot read {character} (character {position} of your problem)" in message


def test_a_prompt_too_long_for_the_context_says_how_long_it_may_be():
    overhead = len(encode_prompt(""))
    limit = 512 - RESPONSE_ROOM - overhead
    assert check_prompt("1" * limit, 512)[0] is not None
    ids, message = check_prompt("1" * (limit + 1), 512)
    assert ids is None and f"Keep it under {limit} characters" in message


@pytest.mark.parametrize(
    ("prompt", "value"),
    [
        ("compute 478+56", 534),
        ("compute 502-38", 464),
        ("  Compute 12 * (3 + 4) - -2 ", 86),
        ("7-10", -3),
        ("compute 2*3*4+1", 25),
        ("sort 3 1 2", None),
        ("compute 4+", None),
        ("compute (4+5", None),
        ("compute 4 5", None),
        ("", None),
    ],
)
def test_the_arithmetic_the_reader_typed(prompt, value):
    assert expected_answer(prompt) == value


def test_the_verdict_is_the_rule_rewards():
    task = arithmetic_task(478, "+", 56)
    right = f"<think>\n{task.thinking}\n</think>\n<answer>534</answer>"
    assert verdict(task.prompt, right) == {
        "format": (1.0, format_reward(right).reason),
        "accuracy": (1.0, "answer 534 is right (compute 478+56 = 534)"),
    }
    wrong = right.replace("534", "535") + " extra"
    result = verdict(task.prompt, wrong)
    assert result["format"][0] == 0.0 and result["accuracy"][0] == 0.0
    assert verdict("sort 3 1 2", right)["accuracy"][0] is None


def test_the_spec_is_r1minis_own_tokenizer_and_template():
    spec = site_spec(["r1"])
    assert spec["vocab"] == list(VOCAB) and spec["vocab_limit"] == VOCAB_SIZE
    assert spec["bos"] + spec["prompt_format"].format(prompt="x") == "".join(
        VOCAB[i] for i in encode_prompt("x")
    )
    assert spec["messages"] == MESSAGES
    assert spec["models"]["r1"]["moe_layers"] == [1, 2, 3]
    json.dumps(spec)  # the page reads it as JSON


def test_the_site_panel_has_the_controls_and_loads_nothing_remote():
    page = panel_html("compute 1+2")
    for element in ("r1-live-prompt", "r1-live-run", "r1-live-output", "r1-live-model"):
        assert f'id="{element}"' in page
    assert "http" not in page and 'value="compute 1+2"' in page


def test_the_jupyter_panel_answers_as_generate_text(r1):
    panel = LivePanel({"r1": r1}, example="compute 478+56")
    response = panel.run()
    assert response == generate_text(r1, ["compute 478+56"], temperature=0)[0]
    assert "reward: 1" in panel.output.value and "&lt;think&gt;" in panel.output.value
    assert len(panel.figures.outputs) == 2  # routing heatmap, attention map
    assert panel.run("compute 4é") is None and "cannot read" in panel.output.value
    bundle = panel._repr_mimebundle_()
    assert 'id="r1-live-run"' in bundle["text/html"]
