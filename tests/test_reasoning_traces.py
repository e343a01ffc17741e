"""r1mini.reasoning.traces: the first token where a response leaves its task's reference trace."""

import functools

from r1mini.reasoning import arithmetic, generate_tasks
from r1mini.reasoning.task import Task
from r1mini.reasoning.tokenizer import split_tokens
from r1mini.reasoning.traces import first_divergence, reference_response, thinking_lines

TASK = Task(
    kind="arithmetic",
    difficulty=4,
    prompt="compute 5317-1493",
    answer="3824",
    thinking="7-3=4 b0\n11-9=2 b1\n13-4-1=8 b1\n5-1-1=3 b0",
    checker=functools.partial(arithmetic.check_integer, 3824),
    language=arithmetic.LANGUAGE,
)
SLIP = "<think>\n7-3=4 b0\n11-9=2 b1\n3-4-1=0 b0\n5-1=4 b0\n</think>\n<answer>4024</answer>"


def test_reference_response_matches_itself_and_is_the_task_trace():
    response = reference_response(TASK)
    assert thinking_lines(response) == TASK.thinking.split("\n")
    where = first_divergence(TASK, response)
    assert not where.diverged and where.step is None and where.part is None


def test_a_slip_in_the_third_column_is_found_at_its_first_token():
    where = first_divergence(TASK, SLIP)
    assert where.diverged and where.part == "thinking" and where.step == 2
    assert (where.expected, where.wrote) == ("1", "3")  # the reference borrows: "13-4-1"
    assert where.reference_line == "13-4-1=8 b1" and where.response_line == "3-4-1=0 b0"
    assert split_tokens(SLIP)[where.token] == "3"
    assert "".join(split_tokens(SLIP)[: where.token]).endswith("b1\n")


def test_right_trace_wrong_answer_diverges_in_the_answer():
    copied_wrong = reference_response(TASK).replace("3824", "3842")
    where = first_divergence(TASK, copied_wrong)
    assert where.part == "answer" and where.step == 4
    assert (where.expected, where.wrote) == ("2", "4")
    assert where.reference_line == "" and where.response_line == ""


def test_short_and_long_responses():
    short = "<think>\n7-3=4 b0"  # stopped mid-trace
    where = first_divergence(TASK, short)
    assert (where.step, where.expected, where.wrote) == (0, "\n", None)  # line 0 ends unfinished
    lines = TASK.thinking.split("\n")
    extra = "<think>\n" + "\n".join([*lines, "0-0=0 b0"]) + "\n</think>\n<answer>3824</answer>"
    where = first_divergence(TASK, extra)
    assert (where.part, where.step, where.expected, where.wrote) == ("thinking", 4, "</think>", "0")
    assert where.reference_line == "" and where.response_line == "0-0=0 b0"


def test_thinking_lines_of_unclosed_and_empty_thinking():
    assert thinking_lines("<think>\na\nb") == ["a", "b"]
    assert thinking_lines("<think>\n</think>\n<answer>1</answer>") == []


def test_every_generated_task_matches_its_own_reference():
    for kind in ("arithmetic", "countdown", "lists"):
        for task in generate_tasks(kind, 5, seed=3):
            assert not first_divergence(task, reference_response(task)).diverged
