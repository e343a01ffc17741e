"""Evaluation metrics on hand-computed examples."""

import importlib.util
import math
from fractions import Fraction

import pytest
from helpers import arithmetic_task

from r1mini.reasoning.evaluate import (
    cons_at_k,
    evaluate,
    majority_answer,
    pass_at_1,
    pass_at_k,
    score_sample,
    summarize,
    to_dataframe,
)

TASK = arithmetic_task(123, "+", 456)
RIGHT = "<think>\n9 7 5\n</think>\n<answer>579</answer>"  # 15 tokens
DIRECT = "<think>\n</think>\n<answer>579</answer>"  # 9 tokens, no reasoning
WRONG = "<think>\n9 7 5\n</think>\n<answer>580</answer>"  # 15 tokens
UNFORMATTED = "580"  # 3 tokens


def test_pass_at_k_hand_computed() -> None:
    assert pass_at_k(n=5, c=2, k=2) == pytest.approx(1 - math.comb(3, 2) / math.comb(5, 2))
    assert pass_at_k(n=5, c=2, k=2) == pytest.approx(0.7)
    assert pass_at_k(n=5, c=0, k=3) == 0.0
    assert pass_at_k(n=5, c=4, k=2) == 1.0  # any 2 of the 5 include a right one
    assert pass_at_k(n=8, c=3, k=1) == pytest.approx(3 / 8)


def test_pass_at_k_matches_the_binomial_formula_where_it_overflows_floats() -> None:
    for n, c, k in [(10, 3, 4), (64, 7, 16), (2000, 10, 500)]:
        exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
        assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-9)


@pytest.mark.parametrize(
    ("n", "c", "k", "message"),
    [
        (0, 0, 1, "n=0 must be at least 1"),
        (4, 5, 1, "c=5 must lie in 0..n=4"),
        (4, 2, 5, "k=5 must lie in 1..n=4"),
        (4, 2, 0, "k=0 must lie in 1..n=4"),
    ],
)
def test_pass_at_k_rejects_bad_counts(n: int, c: int, k: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pass_at_k(n, c, k)


def test_pass_at_1_is_mean_correctness() -> None:
    assert pass_at_1([True, False, True, True]) == 0.75
    with pytest.raises(ValueError, match="correct is empty"):
        pass_at_1([])


def test_majority_vote() -> None:
    assert majority_answer(["5", "6", " 5 ", None]) == "5"
    assert majority_answer(["6", "5"]) == "6"  # a tie goes to the first seen
    assert majority_answer(["42  1", "42 1", "1 42"]) == "42 1"
    assert majority_answer([None, None]) is None
    assert cons_at_k(TASK, ["580", "579", "580"]) == 0.0  # right once, but outvoted
    assert cons_at_k(TASK, ["579", None, None, "580", "579"]) == 1.0
    assert cons_at_k(TASK, [None]) == 0.0


def test_score_sample() -> None:
    record = score_sample(TASK, DIRECT)
    assert (record.answer, record.correct, record.well_formed) == ("579", True, True)
    assert (record.reasons, record.n_tokens) == (False, 9)
    assert not score_sample(TASK, UNFORMATTED).correct


def test_evaluate_builds_one_row_per_question() -> None:
    responses = [RIGHT, DIRECT, WRONG, WRONG, WRONG, UNFORMATTED]
    (row,) = evaluate({TASK: responses}, k=2)
    assert row["n"] == 6 and row["correct"] == 2
    assert row["pass@1"] == pytest.approx(2 / 6)
    assert row["pass@k"] == pytest.approx(1 - 6 / 15)  # 1 - C(4, 2) / C(6, 2)
    assert row["cons@n"] == 0.0  # 580 outvotes 579 three to two
    assert row["mean_length"] == pytest.approx((15 + 9 + 3 * 15 + 3) / 6)
    assert row["reasoning_share"] == pytest.approx(4 / 6)
    assert row["format_share"] == pytest.approx(5 / 6)
    assert evaluate([(TASK, responses)], k=2) == [row]


def test_summarize_averages_over_questions() -> None:
    rows = evaluate([(TASK, [RIGHT, RIGHT]), (TASK, [WRONG, RIGHT])])
    summary = summarize(rows)
    assert summary["questions"] == 2
    assert summary["pass@1"] == pytest.approx(0.75)
    assert summary["pass@k"] == 1.0  # k defaults to n = 2: each question has a right sample
    with pytest.raises(ValueError, match="rows is empty"):
        summarize([])


def test_to_dataframe_needs_pandas() -> None:
    rows = evaluate([(TASK, [RIGHT])])
    if importlib.util.find_spec("pandas") is None:
        with pytest.raises(ImportError, match="to_dataframe needs pandas"):
            to_dataframe(rows)
    else:
        assert list(to_dataframe(rows)["pass@1"]) == [1.0]
