"""Rewards and answer parsers never raise, whatever text a model writes (property-based, hypothesis):
arbitrary unicode (lone surrogates included), the tags in any order, and answers built to break
parsers: thousands of digits, deep parentheses, products that grow without bound."""

import math
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r1mini.reasoning.dataset import KINDS, generate_tasks
from r1mini.reasoning.evaluate import score_sample
from r1mini.reasoning.expression import ExpressionError, evaluate_expression
from r1mini.reasoning.rewards import TAGS, accuracy_reward, combined_reward, format_reward, language_reward
from r1mini.reasoning.template import parse_response

TASKS = [task for kind in KINDS for task in generate_tasks(kind, 2, seed=3)]
UNICODE = st.text(st.characters(exclude_categories=()), max_size=300)  # every code point
DIGITS = st.text("0123456789", min_size=1, max_size=6000)
ANSWERS = st.one_of(
    UNICODE,
    DIGITS,
    st.builds(lambda d: "-" + d, DIGITS),
    st.lists(DIGITS, min_size=1, max_size=8).map(" ".join),  # lists of huge numbers
    st.lists(st.sampled_from(["9" * 40, "99", "(", ")", "*", "/", "+", "-", "0"]), max_size=200).map("".join),
    st.integers(1, 400).map(lambda n: "(" * n + "1" + ")" * n),  # deeper than any recursion limit
    st.integers(1, 3000).map(lambda n: "*".join(["99999"] * n)),  # a product far beyond any bound
)
RESPONSES = st.one_of(
    UNICODE,
    st.lists(st.one_of(st.sampled_from(TAGS), UNICODE), max_size=8).map("".join),  # tags in any order
    st.tuples(UNICODE, ANSWERS).map(lambda p: f"<think>{p[0]}</think><answer>{p[1]}</answer>"),
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_reward(result) -> None:
    assert 0.0 <= result.value <= 1.0 and math.isfinite(result.value)
    assert isinstance(result.reason, str) and result.reason
    assert len(result.reason) < 1000  # a reason quotes at most a short piece of the response


@FUZZ
@given(response=RESPONSES, task=st.sampled_from(TASKS))
def test_every_reward_judges_any_text_without_raising(response, task):
    check_reward(format_reward(response))
    check_reward(accuracy_reward(response, task))
    check_reward(language_reward(response, task))
    total = combined_reward(response, task, {"accuracy": 1.0, "format": 1.0, "language": 1.0})
    assert 0.0 <= total.total <= 3.0
    record = score_sample(task, response)
    assert record.n_tokens >= 0
    parsed = parse_response(response)
    assert parsed.answer is None or isinstance(parsed.answer, str)


@FUZZ
@given(answer=ANSWERS, task=st.sampled_from(TASKS))
def test_every_task_checks_any_answer_without_raising(answer, task):
    verdict = task.verify(answer)
    assert isinstance(verdict.ok, bool) and verdict.reason and len(verdict.reason) < 1000
    assert not verdict.ok or answer.strip() != ""


@FUZZ
@given(text=ANSWERS)
def test_the_expression_parser_raises_only_its_own_error(text):
    try:
        value = evaluate_expression(text)
    except ExpressionError:
        return
    assert abs(value.value) <= 10**15


def test_answers_beyond_python_int_string_limit_are_judged():
    """5,000 digits: more than Python converts (`sys.get_int_max_str_digits`), judged anyway."""
    huge = "9" * 5000
    assert len(huge) > sys.get_int_max_str_digits()
    for task in TASKS:
        verdict = task.verify(huge)
        assert not verdict.ok
        if task.verifiable:  # a kind without a rule gives the same reason whatever the answer
            assert "characters" in verdict.reason  # quoted, cut short
    arithmetic = next(task for task in TASKS if task.kind == "arithmetic")
    assert arithmetic.verify("0" * 5000 + arithmetic.answer).ok  # leading zeros, still right
