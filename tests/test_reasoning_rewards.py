"""Rule-based rewards on crafted good and bad responses: values and the reasons given."""

import random

import pytest
from helpers import arithmetic_task

from r1mini.reasoning.dataset import KINDS, RATERS, generate_tasks
from r1mini.reasoning.rewards import (
    R1_WEIGHTS,
    R1_ZERO_WEIGHTS,
    accuracy_reward,
    combined_reward,
    format_reward,
    language_reward,
)
from r1mini.reasoning.template import decode_response, encode_example, render_completion
from r1mini.reasoning.tokenizer import SPECIAL_TOKENS

TASK = arithmetic_task(123, "+", 456)
THINK = "<think>\n3+6=9 c0\n2+5=7 c0\n1+4=5 c0\n</think>\n"

# (response, accuracy, format, words the accuracy reason must contain, ... the format reason)
CASES = {
    "reference": (THINK + "<answer>579</answer>", 1, 1, "correct", "well-formed"),
    "eos and whitespace after": (THINK + "<answer>579</answer> \n<eos><pad>", 1, 1, "", ""),
    "missing think": ("<answer>579</answer>", 1, 0, "", "<think> appears 0 times"),
    "think never closed": ("<think>3+6=9<answer>579</answer>", 1, 0, "", "</think> appears 0"),
    "missing answer tags": (THINK + "579", 0, 0, "no single <answer>", "<answer> appears 0"),
    "answer before think": (
        "<answer>579</answer><think>x</think>",
        1,
        0,
        "",
        "out of order: <answer> </answer> <think> </think>",
    ),
    "closing tag first": ("</think>x<think><answer>579</answer>", 1, 0, "", "out of order"),
    "two answers": (
        THINK + "<answer>579</answer><answer>580</answer>",
        0,
        0,
        "found 2 <answer>",
        "<answer> appears 2 times",
    ),
    "text after answer": (THINK + "<answer>579</answer> I am sure", 1, 0, "", "after </answer>"),
    "text before think": ("Sure! " + THINK + "<answer>579</answer>", 1, 0, "", "before <think>"),
    "text between": (THINK + "so <answer>579</answer>", 1, 0, "", "between </think> and"),
    "wrong answer": (THINK + "<answer>589</answer>", 0, 1, "wrong: answer 589", ""),
    "not a number": (THINK + "<answer>five</answer>", 0, 1, "not a whole number", ""),
    "empty string": ("", 0, 0, "no single <answer>", "empty response"),
    "garbage": ("#$%^ \x00 ¿¡ <<>>", 0, 0, "no single <answer>", "<think> appears 0"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_accuracy_and_format_on_crafted_responses(case: str) -> None:
    response, accuracy, form, accuracy_words, format_words = CASES[case]
    got_accuracy, got_format = accuracy_reward(response, TASK), format_reward(response)
    assert (got_accuracy.value, got_format.value) == (accuracy, form)
    assert accuracy_words in got_accuracy.reason
    assert format_words in got_format.reason


def test_language_reward_is_the_share_of_in_language_words() -> None:
    assert language_reward(THINK + "<answer>579</answer>", TASK).value == 1.0
    mixed = language_reward("<think>3+6=9 c0 hmm, wait</think><answer>579</answer>", TASK)
    assert mixed.value == 0.5
    assert "2 of 4 words" in mixed.reason and "hmm, wait" in mixed.reason
    assert "empty" in language_reward("<think> \n</think><answer>579</answer>", TASK).reason
    assert language_reward("<answer>579</answer>", TASK).value == 0.0


@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind not in RATERS])
@pytest.mark.parametrize("template", ["r1-chat", "r1-zero-short"])
def test_reference_examples_earn_every_reward(kind: str, template: str) -> None:
    for task in generate_tasks(kind, 20, seed=4):
        ids, n_prompt = encode_example(task, template)
        response = decode_response(ids[n_prompt:], template)
        assert response == render_completion(task.thinking, task.answer)
        reward = combined_reward(response, task, R1_WEIGHTS)
        # an empty <think> block (lists-python answers in code alone) has no language to reward
        assert reward.total == (3.0 if task.thinking else 2.0), reward


def test_combined_reward_weights_the_parts() -> None:
    response = "<think>3+6=9 c0 hmm</think><answer>589</answer>"  # formatted, wrong, 2/3 language
    zero = combined_reward(response, TASK)
    assert zero.total == 1.0
    assert set(zero.parts) == {"accuracy", "format", "language"}
    assert combined_reward(response, TASK, R1_WEIGHTS).total == pytest.approx(1 + 2 / 3)
    assert combined_reward(response, TASK, {"format": 0.5}).total == 0.5
    assert R1_ZERO_WEIGHTS == {"accuracy": 1.0, "format": 1.0}


def test_combined_reward_rejects_bad_weights() -> None:
    with pytest.raises(ValueError, match=r"weights has key 'length'; rewards are"):
        combined_reward("", TASK, {"length": 1.0})
    with pytest.raises(ValueError, match=r"weights\['format'\]=-1.0 must be finite and non-neg"):
        combined_reward("", TASK, {"format": -1.0})


def test_rewards_never_raise_on_random_text() -> None:
    rng = random.Random(0)
    pieces = [*SPECIAL_TOKENS, "579", "5", "+", "(", " ", "\n", "x", "é"]
    tasks = [generate_tasks(kind, 1)[0] for kind in KINDS]
    for _ in range(1000):
        response = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 15)))
        for task in tasks:
            reward = combined_reward(response, task, R1_WEIGHTS)
            assert all(0.0 <= part.value <= 1.0 and part.reason for part in reward.parts.values())
