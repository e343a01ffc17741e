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
"""

import functools
import random
import re
from collections import Counter
from collections.abc import Iterable

from r1mini.reasoning.task import Language, Task, Verdict, shorten

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
