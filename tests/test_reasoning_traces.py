"""r1mini.reasoning.traces: the first token where a response leaves its task's reference trace."""

from helpers import SLIP, SLIP_TASK

from r1mini.reasoning import generate_tasks
from r1mini.reasoning.tokenizer import split_tokens
from r1mini.reasoning.traces import first_divergence, reference_response, thinking_lines


def test_reference_response_matches_itself_and_is_the_task_trace():
    response = reference_response(SLIP_TASK)
    assert thinking_lines(response) == SLIP_TASK.thinking.split("\n")
    where = first_divergence(SLIP_TASK, response)
    assert not where.diverged and where.step is None and where.part is None


def test_a_slip_in_the_third_column_is_found_at_its_first_token():
    where = first_divergence(SLIP_TASK, SLIP)
    assert where.diverged and where.part == "thinking" and where.step == 2
    assert (where.expected, where.wrote) == ("1", "3")  # the reference borrows: "13-4-1"
    assert where.reference_line == "13-4-1=8 b1" and where.response_line == "3-4-1=0 b0"
    assert split_tokens(SLIP)[where.token] == "3"
    assert "".join(split_tokens(SLIP)[: where.token]).endswith("b1\n")


def test_right_trace_wrong_answer_diverges_in_the_answer():
    copied_wrong = reference_response(SLIP_TASK).replace("3824", "3842")
    where = first_divergence(SLIP_TASK, copied_wrong)
    assert where.part == "answer" and where.step == 4
    assert (where.expected, where.wrote) == ("2", "4")
    assert where.reference_line == "" and where.response_line == ""


def test_short_and_long_responses():
    short = "<think>\n7-3=4 b0"  # stopped mid-trace
    where = first_divergence(SLIP_TASK, short)
    assert (where.step, where.expected, where.wrote) == (0, "\n", None)  # line 0 ends unfinished
    lines = SLIP_TASK.thinking.split("\n")
    extra = "<think>\n" + "\n".join([*lines, "0-0=0 b0"]) + "\n</think>\n<answer>3824</answer>"
    where = first_divergence(SLIP_TASK, extra)
    assert (where.part, where.step, where.expected, where.wrote) == ("thinking", 4, "</think>", "0")
    assert where.reference_line == "" and where.response_line == "0-0=0 b0"


def test_thinking_lines_of_unclosed_and_empty_thinking():
    assert thinking_lines("<think>\na\nb") == ["a", "b"]
    assert thinking_lines("<think>\n</think>\n<answer>1</answer>") == []


def test_every_generated_task_matches_its_own_reference():
    for kind in ("arithmetic", "countdown", "lists"):
        for task in generate_tasks(kind, 5, seed=3):
            assert not first_divergence(task, reference_response(task)).diverged
