"""The code verification ladder (not code, not Python, fails tests, correct) and the list task
answered in Python: hand-picked answers on every rung, Python's own results as the reference for
what an allowed program computes, and arbitrary text that must never raise or run."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r1mini.reasoning import generate_tasks
from r1mini.reasoning.code_check import RUNGS, Refused, judge_code, run_expression
from r1mini.reasoning.lists import (
    PROGRAM_KIND,
    judge_program_response,
    list_program,
    make_list_program,
    program_items,
    program_tests,
)

ITEMS = (57, 3, 91, 8)


@pytest.mark.parametrize(
    ("answer", "rung"),
    [
        ("42 3 8 57 91", "not code"),  # the list as words: what the plain lists task wants
        ("sorted list with 42 first", "not code"),
        ("", "not code"),
        ("sort(57 3 91 8)", "not python"),
        ("(42,)+tuple(sorted((57,3,91,8))", "not python"),  # a bracket short
        ("[42] + sorted(xs)", "fails tests"),  # Python, but xs is a name the checker will not run
        ("x.sort()", "fails tests"),
        ("(42,)+[1]", "fails tests"),  # Python raises TypeError
        ("(42,)+tuple(sorted((57,3,91)))", "fails tests"),  # a number missing
        ("tuple(sorted((57,3,91,8)))+(42,)", "fails tests"),  # 42 at the end
        ("(42,)+(57,3,91,8)", "fails tests"),  # not sorted
        ("(42,)+tuple(sorted((57,3,91,8)))", "correct"),
        ("[42]+sorted([57,3,91,8])", "correct"),
        ("(42,3,8,57,91)", "correct"),  # sorted by hand: the tests check behaviour, not method
    ],
)
def test_each_rung_of_the_ladder(answer: str, rung: str):
    verdict = judge_code(answer, program_tests(ITEMS))
    assert verdict.rung == rung, verdict.reason
    assert verdict.level == RUNGS.index(rung) and verdict.ok == (rung == "correct")


def test_the_failed_test_is_named():
    verdict = judge_code("tuple(sorted((57,3,91,8)))+(42,)", program_tests(ITEMS))
    assert "starts with 42" in verdict.reason and "(3, 8, 57, 91, 42)" in verdict.reason


@pytest.mark.parametrize(
    "source",
    ["(42,)+tuple(sorted((5,-3,2)))", "[1,2]+[3]", "list(sorted((3,1,2)))", "-(-7)", "+5", "(1,)+()", "[]"],
)
def test_allowed_programs_compute_what_python_computes(source: str):
    assert run_expression(source) == eval(source)  # the reference: Python itself, on trusted text


@pytest.mark.parametrize(
    ("source", "refused"),
    [
        ("__import__('os').system('echo no')", "calls"),
        ("open('/etc/passwd')", "calls"),
        ("(lambda: 1)()", "calls"),
        ("xs", "Name"),
        ("'42'", "not a whole number"),
        ("True", "not a whole number"),
        ("sorted((1,), key=len)", "one plain argument"),
        ("tuple(5)", "TypeError"),
        ("9" * 101, "100 digits"),
        ("(1,)*2000", "BinOp"),
    ],
)
def test_what_the_checker_will_not_run(source: str, refused: str):
    with pytest.raises(Refused, match=refused):
        run_expression(source)


def test_sequences_are_capped(monkeypatch):
    import r1mini.reasoning.code_check as code_check

    monkeypatch.setattr(code_check, "MAX_ITEMS", 3)
    assert run_expression("(1,2)+(3,)") == (1, 2, 3)
    with pytest.raises(Refused, match="more than 3 items"):
        run_expression("(1,2)+(3,4)")


def test_deep_nesting_and_long_answers_are_judged_not_run():
    assert judge_code("(" * 300 + ")" * 300, []).rung == "not python"  # Python's parser refuses
    assert judge_code("-" * 60 + "1,", []).rung == "fails tests"  # nesting past MAX_DEPTH
    assert judge_code("(" + "1," * 1500 + ")", []).rung == "fails tests"  # past MAX_SOURCE


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gets_a_rung_and_never_raises(text: str):
    verdict = judge_code(text, program_tests(ITEMS))
    assert verdict.rung in RUNGS and verdict.reason


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789()[],+- sortedtuplist", max_size=60))
def test_code_like_text_gets_a_rung_and_never_raises(text: str):
    verdict = judge_code(text, program_tests(ITEMS))
    assert verdict.rung in RUNGS


def test_the_list_program_task():
    task = make_list_program(random.Random(0), 4)
    assert task.kind == PROGRAM_KIND and task.prompt.startswith("in python: sort ")
    assert task.verify(task.answer).ok and task.verify(task.answer).reason.endswith("(ladder: correct)")
    assert task.verify("42 1 2 3 4").reason.endswith("(ladder: not code)")
    assert list_program((7,)) == "(42,)+tuple(sorted((7,)))" and run_expression(list_program((7,))) == (42, 7)
    held_out = generate_tasks(PROGRAM_KIND, 20, seed=0, split="test")
    assert all(t.split == "test" and t.check(t.answer) for t in held_out)
    with pytest.raises(ValueError, match="difficulty"):
        make_list_program(random.Random(0), 0)


def test_judge_program_response_reads_the_answer_block():
    task = make_list_program(random.Random(1), 3)
    items = program_items(task)
    assert task.prompt == f"in python: sort {' '.join(map(str, items))} then prepend 42"
    right = f"<think>\n\n</think>\n<answer>{list_program(items)}</answer>"
    assert judge_program_response(task, right).rung == "correct"
    assert judge_program_response(task, "<think>\n\n</think>\n2222").rung == "not code"
    assert judge_program_response(task, "<answer>sort(1 2)</answer>").rung == "not python"
    with pytest.raises(ValueError, match="not a 'lists-python' task"):
        program_items(generate_tasks("lists", 1)[0])
