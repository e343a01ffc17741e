"""Where a reasoning trace goes wrong: the first token at which a response leaves the reference.

A model writes its response one token at a time, each conditioned on everything before it, so
once a wrong response leaves the right path every later step builds on the slip. Our tasks carry
the reference reasoning a correct response writes (``Task.thinking``, the readable step-by-step
working of R1's cold-start data, R1 paper §2.3.1), one step per line. Comparing a response with
that reference, token by token, finds where it first went wrong: which token, in which line of
the reasoning, what the reference had there and what the model wrote instead.

The comparison is literal, so it suits tasks with one natural trace (our column-by-column
arithmetic); for a search task (countdown) a different but valid order of attempts also counts
as a divergence.
"""

from __future__ import annotations

from dataclasses import dataclass

from r1mini.reasoning.generate import Part
from r1mini.reasoning.task import Task
from r1mini.reasoning.template import render_completion
from r1mini.reasoning.tokenizer import END_THINK, THINK, split_tokens


@dataclass(frozen=True)
class Divergence:
    """Where a response first differs from its task's reference response.

    Attributes:
        token: index, in ``split_tokens(response)``, of the first token that differs; None when
            the response is the reference, token for token.
        part: "thinking" if that token falls before the reference's ``</think>``, else "answer".
        step: 0-based line of the reasoning holding that token (for the answer: the number of
            reference lines).
        expected: the reference's token there; None if the response runs on past its end.
        wrote: the response's token there; None if the response stops short.
        reference_line: the reference's reasoning line ``step`` ("" past its last line).
        response_line: the response's reasoning line ``step`` ("" past its last line).
    """

    token: int | None
    part: Part | None
    step: int | None
    expected: str | None
    wrote: str | None
    reference_line: str
    response_line: str

    @property
    def diverged(self) -> bool:
        """Whether the response differs from the reference at all."""
        return self.token is not None


def reference_response(task: Task) -> str:
    """The response a model trained on the task's reference trace writes (no ``<eos>``)."""
    return render_completion(task.thinking, task.answer)


def thinking_lines(response: str) -> list[str]:
    """The lines of a response's reasoning: the text after ``<think>`` up to ``</think>`` (or to
    the end, if the response never closes it), without the newlines around it."""
    start = response.find(THINK)
    body = response[start + len(THINK) :] if start >= 0 else response
    end = body.find(END_THINK)
    body = body if end < 0 else body[:end]
    body = body.removeprefix("\n").removesuffix("\n")
    return body.split("\n") if body else []


def first_divergence(task: Task, response: str) -> Divergence:
    """Compare ``response`` (the whole response, the template's prefill included) with
    ``reference_response(task)`` token by token and report the first difference."""
    reference = split_tokens(reference_response(task))
    written = split_tokens(response)
    same = 0
    while same < min(len(reference), len(written)) and reference[same] == written[same]:
        same += 1
    if same == len(reference) == len(written):
        return Divergence(None, None, None, None, None, "", "")
    common = reference[:same]  # the tokens both wrote, identical
    reference_lines = task.thinking.split("\n")
    if END_THINK in common:
        part: Part = "answer"
        step = len(reference_lines)
    else:
        part = "thinking"
        step = max(common.count("\n") - 1, 0)  # the first newline follows <think>
    response_lines = thinking_lines(response)
    return Divergence(
        token=same,
        part=part,
        step=step,
        expected=reference[same] if same < len(reference) else None,
        wrote=written[same] if same < len(written) else None,
        reference_line=reference_lines[step] if step < len(reference_lines) else "",
        response_line=response_lines[step] if step < len(response_lines) else "",
    )
