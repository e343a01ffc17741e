"""r1mini.reasoning.scaling: pass@k and cons@k curves over k, on hand-made answers."""

import pytest
from helpers import arithmetic_task

from r1mini.reasoning.evaluate import evaluate, pass_at_k
from r1mini.reasoning.scaling import cons_at_k_curve, pass_at_k_curve
from r1mini.reasoning.task import Task


def task(answer: int) -> Task:
    return arithmetic_task(answer, "+", 0)


def response(answer: str) -> str:
    return f"<think>\nx\n</think>\n<answer>{answer}</answer>"


def test_pass_at_k_curve_averages_the_unbiased_estimator():
    a, b = task(1), task(2)
    rows = evaluate(
        [(a, [response("1"), response("9"), response("9"), response("9")]), (b, [response("2")] * 4)]
    )
    curve = pass_at_k_curve(rows, [1, 2, 4])
    assert curve[0] == pytest.approx((0.25 + 1) / 2)
    assert curve[1] == pytest.approx((pass_at_k(4, 1, 2) + 1) / 2)
    assert curve[2] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="outside"):
        pass_at_k_curve(rows, [5])


def test_cons_at_k_gains_when_wrong_answers_disagree():
    scattered = ["7", "8", "9", "5", "5", "6", "5", "4"]  # 3 right (5), 5 wrong, all different
    systematic = ["5", "5", "5", "9", "9", "9", "9", "9"]  # 3 right, the same wrong answer 5 times
    five = task(5)
    full = cons_at_k_curve([five], [scattered], [8])
    assert full == [1.0]  # every order of all 8 votes 5
    assert cons_at_k_curve([five], [systematic], [8]) == [0.0]
    curve = cons_at_k_curve([five, five], [scattered, systematic], [1, 8], draws=200, seed=1)
    assert curve[0] == pytest.approx(3 / 8, abs=0.06)  # one answer: cons@1 = pass@1
    assert curve[1] == 0.5


def test_cons_at_k_curve_checks_its_arguments():
    with pytest.raises(ValueError, match="same"):
        cons_at_k_curve([task(1)], [], [1])
    with pytest.raises(ValueError, match="draws"):
        cons_at_k_curve([task(1)], [["1"]], [1], draws=0)
    with pytest.raises(ValueError, match="outside"):
        cons_at_k_curve([task(1)], [["1", None]], [3])
    assert cons_at_k_curve([task(1)], [[None, None]], [2]) == [0.0]
