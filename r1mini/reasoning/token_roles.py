"""What each token of an arithmetic conversation does: its role, and the digit column it works on.

Chapters 02 and 03 look inside the trained miniature while it reads its own reasoning: which experts
each kind of token is routed to (V3 §2.1.2), and what the token that computes a column attends to
(V3 §2.1.1). Both need every token of a conversation labelled. An arithmetic trace (see
`arithmetic.py`) works one digit column per line, least significant first::

    <bos><|User|>compute 8894+625<|Assistant|><think>
    4+5=9 c0          line 0 works column 0 (units): 4 and 5, no carry in, carry out 0
    9+2=11 c1         line 1, column 1 (tens)
    8+6+1=15 c1       line 2: "+1" is the carry line 1 passed on
    8+0+1=9 c0
    </think>
    <answer>9519</answer>

`token_roles` gives each token one of: a digit with the column it belongs to (a number's digits by
place value, a line's digits by the column the line works), an operator (`+ - =`), a carry or
borrow mark (`c`/`b` and the digit after it, the carried-in digit, and the extra ten a borrowing
line writes before its top digit, as in `12-8=4 b1`), a tag (`<think>`, `</think>`, `<answer>`,
`</answer>`), a newline, a space, or other text (the template's words and markers). Digits on a
line that is not a well-formed column step have no column: "digit, unplaced".

`trace_columns` finds, for each well-formed line, the positions that take part in its column: the
column's digits in the question and on the line, the carry or borrow mark of the previous line
(`c1`), and the tokens that work the column out: the line's start, which predicts its top digit, its
bottom digit, after which the model decides whether to add a carry, and its `=`, which predicts
the result.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from r1mini.reasoning.template import get_template, parse_response, render_prompt
from r1mini.reasoning.tokenizer import ANSWER, END_ANSWER, END_THINK, THINK, split_tokens

OPERATOR, CARRY, TAG, NEWLINE, SPACE, TEXT, UNPLACED = (
    "operator",
    "carry/borrow",
    "tag",
    "newline",
    "space",
    "text",
    "digit, unplaced",
)
TAGS = frozenset({THINK, END_THINK, ANSWER, END_ANSWER})
QUESTION = re.compile(r"compute (\d+)([+-])(\d+)")
# one column step: top (with the borrowed ten), operator, bottom, carried in, result, carry/borrow out
LINE = re.compile(r"(\d+)([+-])(\d+)(?:([+-])(\d))?=(\d+) ([cb])(\d)")


def digit_role(column: int) -> str:
    """The role of a digit in `column` (0 = units)."""
    return f"digit, column {column}"


def role_order(roles: Sequence[str]) -> list[str]:
    """The distinct `roles`: digits by column first, then this module's other roles in a fixed order,
    then any other label in the order it first appears."""
    known = (OPERATOR, CARRY, TAG, NEWLINE, SPACE, TEXT, UNPLACED)
    present = dict.fromkeys(roles)  # distinct, in order of appearance
    digits = sorted((r for r in present if r.startswith("digit, column ")), key=lambda r: int(r.split()[-1]))
    others = [r for r in present if r not in digits and r not in known]
    return digits + [r for r in known if r in present] + others


def conversation_tokens(prompt: str, response: str, template: str = "r1-chat") -> list[str]:
    """The token strings the model reads for `prompt` answered by `response` (as `decode_response`
    returns it, starting with the template's prefill): prompt, then the rest of the response."""
    prefill = get_template(template).prefill
    if not response.startswith(prefill):
        raise ValueError(
            f"response {response[:20]!r}... does not start with the template's prefill {prefill!r}"
        )
    return split_tokens(render_prompt(prompt, template) + response[len(prefill) :])


def _place_values(start: int, number: str) -> dict[int, int]:
    """Position -> column of each digit of `number` written from position `start`."""
    return {start + i: len(number) - 1 - i for i in range(len(number))}


@dataclass(frozen=True)
class Column:
    """The positions (indices into the token list) that take part in one column of a trace.

    Attributes:
        index: the column (0 = units), which is the line's index in the `<think>` block.
        question: the column's digits in the question's two numbers (one if the smaller is shorter).
        line: the line's top and bottom digits of that column, then the carried-in digit if it
            adds one (`8+6+1=`).
        carry_in: the previous line's carry or borrow mark and its digit (`c1`; empty for column 0).
        start: the token before the line (a newline): it predicts the line's top digit.
        bottom: the line's bottom digit: it predicts whether a carry is added next (`+1`) or `=`.
        equals: the line's `=`: it predicts the column's result.
    """

    index: int
    question: tuple[int, ...]
    line: tuple[int, ...]
    carry_in: tuple[int, ...]
    start: int
    bottom: int
    equals: int


def _parse(tokens: Sequence[str]) -> tuple[list[str], list[Column]]:
    """Roles of every token and the columns of the well-formed lines (see the module docstring)."""
    roles = []
    for token in tokens:
        if token in TAGS:
            roles.append(TAG)
        elif token == "\n":
            roles.append(NEWLINE)
        elif token == " ":
            roles.append(SPACE)
        elif token in "+-=":
            roles.append(OPERATOR)
        elif token.isdigit():
            roles.append(UNPLACED)
        else:
            roles.append(TEXT)
    text = "".join(t if len(t) == 1 else "\0" for t in tokens)  # one character per token
    question: dict[int, dict[int, int]] = {}  # column -> {number: position}
    if found := QUESTION.search(text):
        for number, group in enumerate((1, 3)):
            for position, column in _place_values(found.start(group), found.group(group)).items():
                roles[position] = digit_role(column)
                question.setdefault(column, {})[number] = position
    think = [i for i, t in enumerate(tokens) if t == THINK]
    end = [i for i, t in enumerate(tokens) if t == END_THINK]
    columns: list[Column] = []
    if think and end and think[-1] < end[0]:
        position, carry_out = think[-1] + 1, None
        for index, line in enumerate(text[think[-1] + 1 : end[0]].split("\n")[1:-1]):
            position += 1  # the newline before the line
            step = LINE.fullmatch(line)
            if step is None or index != len(columns):  # a line out of step: no more columns
                position += len(line)
                continue
            at = {group: position + step.start(group) for group in range(1, 9) if step.group(group)}
            top = at[1] + len(step.group(1)) - 1  # the column's digit; anything before it is a borrowed ten
            for i in range(at[1], top):
                roles[i] = CARRY
            for group in (1, 3, 6):
                for i in range(at[group], at[group] + len(step.group(group))):
                    roles[i] = roles[i] if roles[i] == CARRY else digit_role(index)
            for group in (5, 7, 8):
                if group in at:
                    roles[at[group]] = CARRY
            columns.append(
                Column(
                    index=index,
                    question=tuple(question.get(index, {}).values()),
                    line=(top, at[3], *((at[5],) if 5 in at else ())),
                    carry_in=() if carry_out is None else (carry_out - 1, carry_out),
                    start=position - 1,
                    bottom=at[3] + len(step.group(3)) - 1,
                    equals=at[6] - 1,
                )
            )
            carry_out = at[8]
            position += len(line)
    answer = [i for i, t in enumerate(tokens) if t == ANSWER]
    close = [i for i, t in enumerate(tokens) if t == END_ANSWER]
    if answer and close and answer[-1] < close[-1]:
        digits = text[answer[-1] + 1 : close[-1]]
        if found := re.fullmatch(r"-?(\d+)", digits):
            for position, column in _place_values(answer[-1] + 1 + found.start(1), found.group(1)).items():
                roles[position] = digit_role(column)
    return roles, columns


def token_roles(tokens: Sequence[str]) -> list[str]:
    """One role per token of an arithmetic conversation (see the module docstring)."""
    return _parse(tokens)[0]


def trace_columns(tokens: Sequence[str]) -> list[Column]:
    """The positions of each column the trace works, one `Column` per well-formed line in order."""
    return _parse(tokens)[1]


def in_column_layout(prompt: str, response: str, template: str = "r1-chat") -> bool:
    """Whether `response`'s `<think>` block is written in the column layout: at least one line, and
    every line a well-formed column step, in order (`trace_columns` finds one per line). Right or
    wrong digits alike: this is the form of the working, not its correctness."""
    thinking = parse_response(response).thinking
    if not thinking:
        return False
    return len(trace_columns(conversation_tokens(prompt, response, template))) == len(thinking.splitlines())
