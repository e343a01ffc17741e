"""Sort a list, then put 42 at its start: a list task any rule can check.

*The Illustrated DeepSeek-R1* explains R1's automatic verification with this request: sort a list
of numbers and add 42 at its start. There the answer is code, run against unit tests; here it is
the list itself. Either way a program, not a human or a reward model, tells whether the answer is
right (R1 paper §2.2.2, rule-based rewards).

The reference reasoning is selection sort, one line per pick of the smallest number left::

    sort 57 3 91 8 then prepend 42
    57 3 91 8 min 3
    57 91 8 min 8
    57 91 min 57
    91 min 91
    sorted 3 8 57 91
    prepend 42: 42 3 8 57 91

Difficulty is the length of the list.

The guide's own version asks for code; `make_list_program` ("lists-python") asks for a Python
expression instead of the list, checked by running it safely against unit tests
(`code_check.judge_code`: not code, not Python, fails the tests, or correct).
"""

import functools
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from r1mini.reasoning.code_check import CodeVerdict, judge_code
from r1mini.reasoning.task import Language, Task, Verdict, shorten
from r1mini.reasoning.template import parse_response

KIND = "lists"
DEFAULT_DIFFICULTY = 5
MAX_ITEM = 99  # list items are drawn from 0..MAX_ITEM
PREPEND = 42
MAX_DIGITS = 12  # a longer number is refused, never converted (Python converts at most 4,300 digits)
LANGUAGE = Language(symbols="0123456789:", keywords=frozenset({"min", "sorted", "prepend"}))


def _words(numbers: Iterable[int]) -> str:
    return " ".join(map(str, numbers))


def selection_sort_trace(items: tuple[int, ...]) -> list[str]:
    """One line per step of selection sort, then the sorted list and the list with ``PREPEND``."""
    left = list(items)
    lines = []
    while left:
        smallest = min(left)
        lines.append(f"{_words(left)} min {smallest}")
        left.remove(smallest)
    ordered = sorted(items)
    return [
        *lines,
        f"sorted {_words(ordered)}",
        f"prepend {PREPEND}: {_words([PREPEND, *ordered])}",
    ]


def check_list(items: tuple[int, ...], answer_text: str) -> Verdict:
    """Whether ``answer_text`` is ``PREPEND`` then ``items`` in ascending order, space-separated."""
    words = answer_text.split()
    if not words or not all(re.fullmatch(r"[0-9]+", word) for word in words):
        return Verdict(False, f"answer {shorten(answer_text.strip())!r} is not a list of whole numbers")
    if any(len(word.lstrip("0")) > MAX_DIGITS for word in words):
        text = shorten(answer_text.strip())
        return Verdict(False, f"answer {text} holds a number of more than {MAX_DIGITS} digits")
    values = [int(word) for word in words]
    text = _words(values)
    if values[0] != PREPEND:
        return Verdict(False, f"answer {text} does not start with {PREPEND}")
    if Counter(values[1:]) != Counter(items):
        return Verdict(False, f"answer {text} does not hold exactly the numbers {_words(items)}")
    if values[1:] != sorted(items):
        return Verdict(False, f"answer {text} is not in ascending order after {PREPEND}")
    return Verdict(True, f"answer {text} is {PREPEND} then the numbers in order")


def make_list(rng: random.Random, difficulty: int = DEFAULT_DIFFICULTY) -> Task:
    """A list of ``difficulty`` numbers from 0 to ``MAX_ITEM`` to sort and prepend 42 to."""
    if difficulty < 1:
        raise ValueError(f"difficulty={difficulty} must be at least 1 (items in the list)")
    items = tuple(rng.randint(0, MAX_ITEM) for _ in range(difficulty))
    return Task(
        kind=KIND,
        difficulty=difficulty,
        prompt=f"sort {_words(items)} then prepend {PREPEND}",
        answer=_words([PREPEND, *sorted(items)]),
        thinking="\n".join(selection_sort_trace(items)),
        checker=functools.partial(check_list, items),
        language=LANGUAGE,
    )


# ---- the same request, answered in code (the guide's automatic-verification figure) --------------
PROGRAM_KIND = "lists-python"
PROGRAM_LANGUAGE = Language(symbols="0123456789(),+", keywords=frozenset({"sorted", "tuple"}))


def _tuple_literal(items: tuple[int, ...]) -> str:
    """Python's literal for the tuple `items`: `(57,3)`, or `(57,)` for one item."""
    inner = ",".join(map(str, items))
    return f"({inner},)" if len(items) == 1 else f"({inner})"


def list_program(items: tuple[int, ...]) -> str:
    """A reference answer: a Python expression that sorts `items` and puts `PREPEND` first."""
    return f"({PREPEND},)+tuple(sorted({_tuple_literal(items)}))"


def program_tests(items: tuple[int, ...]) -> list[tuple[str, Callable[[Any], bool]]]:
    """The unit tests a program's value must pass (the tests of the guide's figure)."""
    expected = [PREPEND, *sorted(items)]

    def whole_numbers(value: Any) -> bool:
        return isinstance(value, tuple | list) and all(type(v) is int for v in value)

    def starts(value: Any) -> bool:
        return whole_numbers(value) and len(value) > 0 and value[0] == PREPEND

    def holds(value: Any) -> bool:
        return whole_numbers(value) and Counter(value[1:]) == Counter(items)

    return [
        ("returns a tuple or list of whole numbers", whole_numbers),
        (f"starts with {PREPEND}", starts),
        (f"then holds exactly {_words(items)}", holds),
        ("in ascending order", lambda value: whole_numbers(value) and list(value) == expected),
    ]


def check_list_program(items: tuple[int, ...], answer_text: str) -> Verdict:
    """Whether `answer_text` is a Python expression whose value passes `program_tests(items)`; the
    reason names the rung of the verification ladder it reached (`code_check.judge_code`)."""
    verdict = judge_code(answer_text, program_tests(items))
    return Verdict(verdict.ok, f"{verdict.reason} (ladder: {verdict.rung})")


def make_list_program(rng: random.Random, difficulty: int = DEFAULT_DIFFICULTY) -> Task:
    """The list request of `make_list`, to be answered with a Python expression (no reasoning)."""
    if difficulty < 1:
        raise ValueError(f"difficulty={difficulty} must be at least 1 (items in the list)")
    items = tuple(rng.randint(0, MAX_ITEM) for _ in range(difficulty))
    return Task(
        kind=PROGRAM_KIND,
        difficulty=difficulty,
        prompt=f"in python: sort {_words(items)} then prepend {PREPEND}",
        answer=list_program(items),
        thinking="",
        checker=functools.partial(check_list_program, items),
        language=PROGRAM_LANGUAGE,
    )


def program_items(task: Task) -> tuple[int, ...]:
    """The numbers a "lists-python" task asks to sort, read back from its prompt."""
    found = re.fullmatch(r"in python: sort ([0-9 ]+) then prepend [0-9]+", task.prompt)
    if task.kind != PROGRAM_KIND or found is None:
        raise ValueError(f"task {task.prompt!r} ({task.kind}) is not a {PROGRAM_KIND!r} task")
    return tuple(int(word) for word in found.group(1).split())


def judge_program_response(task: Task, response: str) -> CodeVerdict:
    """The rung of the verification ladder a whole response to a "lists-python" task reaches: its
    `<answer>` block judged by `judge_code` against `program_tests` (no single answer block: not
    code, since there is no program to read)."""
    answer = parse_response(response).answer
    if answer is None:
        return CodeVerdict("not code", "no single <answer> block holds a program")
    return judge_code(answer, program_tests(program_items(task)))
