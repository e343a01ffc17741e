"""Verifiable tasks: reference solutions, checkers, the expression parser and the splits."""

import contextlib
import random
import re

import pytest

from r1mini.reasoning import arithmetic, countdown, lists
from r1mini.reasoning.dataset import KINDS, RATERS, generate_tasks, task_stream
from r1mini.reasoning.expression import ExpressionError, evaluate_expression
from r1mini.reasoning.task import split_of
from r1mini.reasoning.template import encode_example

CONTEXT = 256  # the bound dataset.py promises: half the miniature model's 512-token context


VERIFIABLE = [kind for kind in KINDS if kind not in RATERS]


@pytest.mark.parametrize("kind", VERIFIABLE)
def test_reference_solutions_pass_their_checker_and_language(kind: str) -> None:
    for task in generate_tasks(kind, 200, seed=3):
        assert task.verifiable
        assert task.check(task.answer), task
        assert task.check(f"  {task.answer}\n")
        assert all(word in task.language for word in task.thinking.split()), task.thinking
        assert task.kind == kind and task.split == "train"


@pytest.mark.parametrize("kind", list(RATERS))
def test_kinds_without_a_rule_have_a_rater_instead(kind: str) -> None:
    for task in generate_tasks(kind, 50, seed=3):
        assert not task.verifiable and not task.check(task.answer)  # no rule says it is right
        assert "reward model" in task.verify(task.answer).reason
        assert RATERS[kind](task, f"<think>\n\n</think>\n<answer>{task.answer}</answer>") > 0


@pytest.mark.parametrize("kind", KINDS)
def test_generation_is_reproducible_from_the_seed(kind: str) -> None:
    first = generate_tasks(kind, 20, seed=11)
    assert first == generate_tasks(kind, 20, seed=11)
    assert first != generate_tasks(kind, 20, seed=12)


@pytest.mark.parametrize("kind", KINDS)
def test_train_and_test_never_share_a_problem(kind: str) -> None:
    train = {task.prompt for task in generate_tasks(kind, 2000, seed=0, split="train")}
    test = {task.prompt for seed in range(3) for task in generate_tasks(kind, 100, seed, "test")}
    assert train and test and not train & test
    assert {split_of(prompt) for prompt in test} == {"test"}


def test_split_holds_out_about_one_problem_in_ten() -> None:
    held_out = [split_of(f"compute {n}+1") == "test" for n in range(5000)]
    assert 0.08 < sum(held_out) / len(held_out) < 0.12


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("template", ["r1-chat", "r1-zero-short"])
def test_default_difficulty_fits_the_context(kind: str, template: str) -> None:
    longest = max(
        len(encode_example(task, template)[0])
        for split in ("train", "test")
        for task in generate_tasks(kind, 300, seed=5, split=split)
    )
    assert longest <= CONTEXT


def test_difficulty_is_the_knob_and_is_validated() -> None:
    assert len(generate_tasks("lists", 1, difficulty=9)[0].prompt.split()) == 9 + 4
    assert len(generate_tasks("countdown", 1, difficulty=4)[0].prompt.split()) == 4 + 3
    with pytest.raises(ValueError, match=r"difficulty=0 must be at least 1"):
        generate_tasks("arithmetic", 1, difficulty=0)
    with pytest.raises(ValueError, match=r"countdown difficulty=1 must be in 2\.\.7"):
        generate_tasks("countdown", 1, difficulty=1)
    with pytest.raises(ValueError, match=r"countdown difficulty=9 must be in 2\.\.7 .* exponentially"):
        generate_tasks("countdown", 1, difficulty=9)


def test_generators_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"kind='poetry' is not a task kind"):
        generate_tasks("poetry", 1)
    with pytest.raises(ValueError, match=r"split='dev' must be one of"):
        next(task_stream("lists", split="dev"))
    with pytest.raises(ValueError, match=r"n=-1 must be non-negative"):
        generate_tasks("lists", -1)


# Arithmetic


def test_arithmetic_traces_match_the_docstring() -> None:
    assert arithmetic.addition_trace(478, 56) == ["8+6=14 c1", "7+5+1=13 c1", "4+0+1=5 c0"]
    assert arithmetic.subtraction_trace(502, 38) == ["12-8=4 b1", "10-3-1=6 b1", "5-0-1=4 b0"]


def test_arithmetic_answers_are_the_true_values() -> None:
    for task in generate_tasks("arithmetic", 200, seed=1, difficulty=5):
        a, operator, b = re.fullmatch(r"compute (\d+)([+-])(\d+)", task.prompt).groups()
        assert int(task.answer) == (int(a) + int(b) if operator == "+" else int(a) - int(b))
        assert len(task.thinking.splitlines()) == 5


@pytest.mark.parametrize(
    ("answer", "reason"),
    [("580", "wrong"), ("57 9", "not a whole number"), ("", "not a whole number"), ("5x", "not")],
)
def test_arithmetic_checker_rejects_corruptions(answer: str, reason: str) -> None:
    verdict = arithmetic.check_integer(579, answer)
    assert not verdict.ok and reason in verdict.reason


# Countdown


def test_countdown_trace_matches_the_docstring() -> None:
    thinking, answer = countdown.solve((3, 5, 7), 22)
    assert thinking.splitlines() == [
        "5+3=8",
        " 8 7: 15 1 56 no",
        "5-3=2",
        " 7 2: 9 5 14 no",
        "5*3=15",
        " 15 7: 15+7=22",
    ]
    assert answer == "(5*3)+7"


def test_countdown_long_searches_are_cut_to_budget_keeping_the_path() -> None:
    tasks = generate_tasks("countdown", 300, seed=2)
    cut = [task for task in tasks if "..." in task.thinking.splitlines()]
    assert cut, "some default searches should need the budget"
    for task in tasks:
        assert len(task.thinking) <= countdown.THINKING_BUDGET
    for task in cut:
        target = task.prompt.split()[1]
        assert task.thinking.endswith((f"={target}", f"={target} yes"))


def test_countdown_unreachable_target_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"target=1000 cannot be reached from numbers=\(1, 2\)"):
        countdown.solve((1, 2), 1000)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("(5*3)+5", "makes 20, not 22"),  # wrong result
        ("(5*3)+7+1", "uses [1] beyond"),  # a number not given
        ("7+7+5+3", "uses [7] beyond"),  # a number used twice
        ("(5*3+7", "ends too early"),  # malformed
        ("5*3)+7", "unexpected ')'"),
        ("5 3 7", "unexpected '3'"),
        ("fifteen", "unexpected character 'f'"),
        ("", "ends too early"),
        ("7/(5-5)", "division by zero"),
        ("(7+3)/3", "10/3 is not a whole number"),
    ],
)
def test_countdown_checker_rejects_corruptions(answer: str, reason: str) -> None:
    verdict = countdown.check_countdown((3, 5, 7, 5), 22, answer)
    assert not verdict.ok
    assert reason in verdict.reason


def test_countdown_checker_accepts_any_valid_expression() -> None:
    assert countdown.check_countdown((3, 5, 7), 22, " 3*5 + 7 ").ok
    assert countdown.check_countdown((3, 5, 7), 22, "7+(3*5)").ok
    assert countdown.check_countdown((2, 4, 9), 11, "9+2").ok  # not every number is needed


# The expression parser


@pytest.mark.parametrize(
    ("text", "value", "numbers"),
    [
        ("2+3*4", 14, (2, 3, 4)),
        ("(2+3)*4", 20, (2, 3, 4)),
        ("8-3-2", 3, (8, 3, 2)),
        ("16/4/2", 2, (16, 4, 2)),
        (" 12 - ( 3 * ( 2 + 1 ) ) ", 3, (12, 3, 2, 1)),
        ("3-5", -2, (3, 5)),
    ],
)
def test_expression_follows_precedence_and_associativity(
    text: str, value: int, numbers: tuple[int, ...]
) -> None:
    evaluation = evaluate_expression(text)
    assert (evaluation.value, evaluation.numbers) == (value, numbers)


@pytest.mark.parametrize("text", ["2**3", "-3+5", "2+", "()", "2 3", "1.5", "(" * 2000 + "1"])
def test_expression_errors_are_expression_errors(text: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate_expression(text)


def test_random_text_never_escapes_the_parser() -> None:
    rng = random.Random(0)
    for _ in range(2000):
        text = "".join(rng.choice("0123456789+-*/() x") for _ in range(rng.randint(0, 12)))
        with contextlib.suppress(ExpressionError):  # anything else would fail the test
            evaluate_expression(text)


# Lists


def test_list_trace_matches_the_docstring() -> None:
    assert lists.selection_sort_trace((57, 3, 91, 8)) == [
        "57 3 91 8 min 3",
        "57 91 8 min 8",
        "57 91 min 57",
        "91 min 91",
        "sorted 3 8 57 91",
        "prepend 42: 42 3 8 57 91",
    ]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("3 8 57 91", "does not start with 42"),
        ("42 8 3 57 91", "not in ascending order"),
        ("42 3 8 57", "exactly the numbers"),
        ("42 3 8 57 91 100", "exactly the numbers"),
        ("42, 3, 8, 57, 91", "not a list of whole numbers"),
        ("", "not a list of whole numbers"),
    ],
)
def test_list_checker_rejects_corruptions(answer: str, reason: str) -> None:
    verdict = lists.check_list((57, 3, 91, 8), answer)
    assert not verdict.ok and reason in verdict.reason
    assert lists.check_list((57, 3, 91, 8), "42 3  8 57\n91").ok
