"""Countdown: reach a target by combining the given numbers with ``+ - * /``.

Each given number may be used at most once and division must be exact. The reference reasoning is
a real depth-first search: trial, error and backtracking, the "reflection" and "exploration of
alternative approaches" that R1-Zero learns by itself (R1 paper §2.2.4). Each line combines two
numbers, indented by its depth in the search; when two numbers are left, one line lists all they
make::

    reach 22 with 3 5 7
    5+3=8
     8 7: 15 1 56 no
    5-3=2
     7 2: 9 5 14 no
    5*3=15
     15 7: 15+7=22

The answer is read off the path that worked: ``(5*3)+7``. A trace longer than
``THINKING_BUDGET`` characters keeps its first attempts and the path that worked, with ``...``
for the attempts in between, so every example fits the miniature model's context. Difficulty is
how many numbers are given.
"""

import functools
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from r1mini.reasoning.expression import ExpressionError, evaluate_expression
from r1mini.reasoning.task import Language, Task, Verdict, shorten

KIND = "countdown"
DEFAULT_DIFFICULTY = 3
MAX_DIFFICULTY = 7  # the reference search grows exponentially: 8 numbers take seconds, 9 minutes
MAX_NUMBER = 10  # given numbers are drawn from 1..MAX_NUMBER
THINKING_BUDGET = 150  # characters of search trace kept in the reference reasoning
OPERATORS = "+-*/"
LANGUAGE = Language(symbols="0123456789+-*/=:", keywords=frozenset({"yes", "no", "..."}))


@dataclass(frozen=True)
class _Line:
    """One line of the search trace and its depth in the search (its indentation)."""

    depth: int
    text: str


Number = tuple[int, str]  # a value and the expression that made it, e.g. (15, "(5*3)")


def combine(a: int, b: int, operator: str) -> int | None:
    """``a operator b`` for ``a >= b``, or None where Countdown forbids it (zero, or inexact)."""
    if operator == "+":
        return a + b
    if operator == "-":
        return a - b if a > b else None
    if operator == "*":
        return a * b
    return a // b if a % b == 0 else None


def _moves(numbers: list[Number]) -> Iterator[tuple[str, Number, list[Number]]]:
    """Every way to combine two of ``numbers``: the step, its result and the numbers left."""
    for i in range(len(numbers)):
        for j in range(i + 1, len(numbers)):
            (a, left), (b, right) = sorted([numbers[i], numbers[j]], reverse=True)
            rest = [number for k, number in enumerate(numbers) if k not in (i, j)]
            for operator in OPERATORS:
                value = combine(a, b, operator)
                if value is not None:
                    step = f"{a}{operator}{b}"
                    yield step, (value, f"({left}{operator}{right})"), rest


def _search(numbers: list[Number], target: int, depth: int, lines: list[_Line]) -> str | None:
    """Depth-first search, writing one line per step; the expression that hits ``target``."""
    if len(numbers) == 2:
        (a, _), (b, _) = sorted(numbers, reverse=True)
        made = []
        for step, (value, expression), _ in _moves(numbers):
            if value == target:
                lines.append(_Line(depth, f"{a} {b}: {' '.join([*made, step])}={value}"))
                return expression[1:-1]  # without the outermost parentheses
            made.append(str(value))
        lines.append(_Line(depth, f"{a} {b}: {' '.join(made)} no"))
        return None
    for step, (value, expression), rest in _moves(numbers):
        if value == target:
            lines.append(_Line(depth, f"{step}={value} yes"))
            return expression[1:-1]
        lines.append(_Line(depth, f"{step}={value}"))
        found = _search([*rest, (value, expression)], target, depth + 1, lines)
        if found is not None:
            return found
    return None


def _within_budget(lines: list[_Line], budget: int) -> list[str]:
    """The trace, with middle attempts replaced by ``...`` if it is longer than ``budget``."""
    texts = [" " * line.depth + line.text for line in lines]
    if len("\n".join(texts)) <= budget:
        return texts
    path = []  # the successful line and its ancestors: the last line above it at each depth
    depth = lines[-1].depth
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].depth == depth:
            path.insert(0, index)
            depth -= 1

    def shortened(kept: int) -> list[str]:
        """The first ``kept`` lines, ``...``, then the lines of the path not among them."""
        return [*texts[:kept], "...", *(texts[index] for index in path if index >= kept)]

    kept = 0
    while len("\n".join(shortened(kept + 1))) <= budget:
        kept += 1
    return shortened(kept)


def solve(numbers: tuple[int, ...], target: int) -> tuple[str, str]:
    """The depth-first search trace (within ``THINKING_BUDGET``) and the answer it finds."""
    lines: list[_Line] = []
    answer = _search([(number, str(number)) for number in numbers], target, 0, lines)
    if answer is None:
        raise ValueError(f"target={target} cannot be reached from numbers={numbers}")
    return "\n".join(_within_budget(lines, THINKING_BUDGET)), answer


def check_countdown(numbers: tuple[int, ...], target: int, answer_text: str) -> Verdict:
    """Whether ``answer_text`` reaches ``target`` using ``numbers``, each at most once."""
    text = answer_text.strip()
    try:
        evaluation = evaluate_expression(text)
    except ExpressionError as error:
        return Verdict(False, f"answer {shorten(text)!r} is not a valid expression: {error}")
    overused = Counter(evaluation.numbers) - Counter(numbers)
    if overused:
        return Verdict(
            False, f"answer {shorten(text)} uses {sorted(overused.elements())} beyond the given {numbers}"
        )
    if evaluation.value != target:
        return Verdict(False, f"answer {shorten(text)} makes {evaluation.value}, not {target}")
    return Verdict(True, f"answer {text} makes {target} from the given numbers")


def _random_target(rng: random.Random, numbers: tuple[int, ...]) -> int:
    """Fold the numbers, in random order, with random allowed operators."""
    order = rng.sample(numbers, len(numbers))
    value = order[0]
    for number in order[1:]:
        a, b = max(value, number), min(value, number)
        value = rng.choice([v for op in OPERATORS if (v := combine(a, b, op)) is not None])
    return value


def make_countdown(rng: random.Random, difficulty: int = DEFAULT_DIFFICULTY) -> Task:
    """A solvable countdown with ``difficulty`` numbers from 1 to ``MAX_NUMBER``."""
    if not 2 <= difficulty <= MAX_DIFFICULTY:
        raise ValueError(
            f"countdown difficulty={difficulty} must be in 2..{MAX_DIFFICULTY} (numbers to combine; the "
            "reference search grows exponentially with them)"
        )
    while True:
        numbers = tuple(rng.randint(1, MAX_NUMBER) for _ in range(difficulty))
        target = _random_target(rng, numbers)
        if target not in numbers:
            break
    thinking, answer = solve(numbers, target)
    return Task(
        kind=KIND,
        difficulty=difficulty,
        prompt=f"reach {target} with {' '.join(map(str, numbers))}",
        answer=answer,
        thinking=thinking,
        checker=functools.partial(check_countdown, numbers, target),
        language=LANGUAGE,
    )
