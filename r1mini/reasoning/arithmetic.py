"""Multi-digit addition and subtraction, worked column by column.

The reference reasoning is the school algorithm written out one column per line, least
significant digit first, with the carry (``c``) or borrow (``b``) each column passes on::

    compute 478+56                     compute 502-38
    8+6=14 c1                          12-8=4 b1
    7+5+1=13 c1                        10-3-1=6 b1
    4+0+1=5 c0                         5-0-1=4 b0

Every line is a true equation over one column, so the answer is built from steps a small model
can take one at a time: the readable step-by-step reasoning of R1's cold-start data (§2.3.1).
Difficulty is the number of digits of the larger operand.
"""

import functools
import random
import re

from r1mini.reasoning.task import Language, Task, Verdict, shorten

KIND = "arithmetic"
DEFAULT_DIFFICULTY = 3
LANGUAGE = Language(symbols="0123456789+-=", keywords=frozenset({"c0", "c1", "b0", "b1"}))


def _digit(number: int, column: int) -> int:
    return number // 10**column % 10


def addition_trace(a: int, b: int) -> list[str]:
    """One line per column of ``a + b``: the column's sum and the carry it passes on."""
    lines = []
    carry = 0
    for column in range(len(str(max(a, b)))):
        top, bottom = _digit(a, column), _digit(b, column)
        total = top + bottom + carry
        carried = f"+{carry}" if carry else ""
        lines.append(f"{top}+{bottom}{carried}={total} c{total // 10}")
        carry = total // 10
    return lines


def subtraction_trace(a: int, b: int) -> list[str]:
    """One line per column of ``a - b`` (``a >= b``): the column's digit and the borrow it takes."""
    lines = []
    borrow = 0
    for column in range(len(str(a))):
        top, bottom = _digit(a, column), _digit(b, column)
        borrow_out = int(top - bottom - borrow < 0)
        borrowed = f"-{borrow}" if borrow else ""
        digit = top + 10 * borrow_out - bottom - borrow
        lines.append(f"{top + 10 * borrow_out}-{bottom}{borrowed}={digit} b{borrow_out}")
        borrow = borrow_out
    return lines


def check_integer(expected: int, answer_text: str) -> Verdict:
    """Whether ``answer_text`` is the whole number ``expected``, written in plain digits.

    The text is compared as digits, never converted with ``int``: an answer of any length is
    judged (Python refuses to convert strings of more than 4,300 digits)."""
    text = answer_text.strip()
    if not re.fullmatch(r"-?[0-9]+", text):
        return Verdict(False, f"answer {shorten(text)!r} is not a whole number")
    digits = text.lstrip("-").lstrip("0") or "0"
    canonical = digits if digits == "0" or not text.startswith("-") else "-" + digits
    if canonical != str(expected):
        return Verdict(False, f"answer {shorten(text)} is wrong")
    return Verdict(True, f"answer {text} is right")


def make_arithmetic(rng: random.Random, difficulty: int = DEFAULT_DIFFICULTY) -> Task:
    """A random addition or subtraction whose larger operand has ``difficulty`` digits."""
    if difficulty < 1:
        raise ValueError(f"difficulty={difficulty} must be at least 1 (digits of the operands)")
    a = rng.randrange(10 ** (difficulty - 1), 10**difficulty)
    b = rng.randrange(1, 10 ** rng.randint(1, difficulty))
    if rng.random() < 0.5:
        value, operator, lines = a + b, "+", addition_trace(a, b)
    else:
        a, b = max(a, b), min(a, b)
        value, operator, lines = a - b, "-", subtraction_trace(a, b)
    return Task(
        kind=KIND,
        difficulty=difficulty,
        prompt=f"compute {a}{operator}{b}",
        answer=str(value),
        thinking="\n".join(lines),
        checker=functools.partial(check_integer, value),
        language=LANGUAGE,
    )
