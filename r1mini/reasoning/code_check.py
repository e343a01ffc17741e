"""Automatic verification of code: is the answer code, is it Python, does it pass the tests?

*The Illustrated DeepSeek-R1* explains how R1-Zero's training data can be checked without a person:
asked to "sort a list and add 42 at the start" in code, a candidate answer is scored by software,
one question after another, and each candidate stops at the first it fails: it is not code at all,
it is code but not Python, it is Python but fails the unit tests, or it is correct. The R1 paper
says the same of its rule-based rewards: "for LeetCode problems, a compiler can be used to generate
feedback based on predefined test cases" (§2.2.2).

`judge_code` climbs that ladder (`RUNGS`) and says which rung an answer reached and why. Running
untrusted text is the dangerous part, so nothing here calls `eval` or `exec`: the answer is parsed
with `ast` into a syntax tree, and `run_expression` computes its value by walking the tree, allowing
only what the list task needs (whole numbers, tuples and lists, unary minus, `+`, and the built-ins
`sorted`, `tuple` and `list` with one argument), with limits on size and nesting. Anything else,
a name, an attribute, a lambda, an import, is refused as a failed run, as a sandbox would refuse it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from r1mini.reasoning.task import shorten

RUNGS = ("not code", "not python", "fails tests", "correct")
CODE_MARKS = frozenset("()[]{}=,+*/:")  # a program has some; prose and bare numbers have none
MAX_SOURCE = 2_000  # characters of an answer the checker will parse
MAX_ITEMS = 1_000  # longest sequence a run may build
MAX_DIGITS = 100  # largest whole number, in digits
MAX_DEPTH = 50  # nesting of the syntax tree
FUNCTIONS: dict[str, Callable[[Any], Any]] = {"sorted": sorted, "tuple": tuple, "list": list}

Test = tuple[str, Callable[[Any], bool]]  # (what it checks, the check of the program's value)


class Refused(Exception):
    """The checker will not run this part of the program (or running it failed)."""


@dataclass(frozen=True)
class CodeVerdict:
    """The highest rung of `RUNGS` an answer reached, and why it went no further."""

    rung: str
    reason: str

    @property
    def ok(self) -> bool:
        return self.rung == "correct"

    @property
    def level(self) -> int:
        """0 (not code) to 3 (correct)."""
        return RUNGS.index(self.rung)


def _number(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) > MAX_DIGITS:
        raise Refused(f"a number of more than {MAX_DIGITS} digits")
    if isinstance(value, tuple | list) and len(value) > MAX_ITEMS:
        raise Refused(f"a sequence of more than {MAX_ITEMS} items")
    return value


def _run(node: ast.AST, depth: int) -> Any:
    """The value of one node of the tree, computed only from the allowed kinds of node."""
    if depth > MAX_DEPTH:
        raise Refused(f"nesting deeper than {MAX_DEPTH}")
    if isinstance(node, ast.Constant):
        if isinstance(node.value, int) and not isinstance(node.value, bool):
            return _number(node.value)
        raise Refused(f"the constant {node.value!r:.20} is not a whole number")
    if isinstance(node, ast.Tuple | ast.List):
        items = [_run(item, depth + 1) for item in node.elts]
        return _number(tuple(items) if isinstance(node, ast.Tuple) else items)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _run(node.operand, depth + 1)
        if not isinstance(value, int):
            raise Refused("a sign in front of something that is not a number")
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _run(node.left, depth + 1), _run(node.right, depth + 1)
        same = type(left) is type(right) or (isinstance(left, int) and isinstance(right, int))
        if not same:
            raise Refused(f"{type(left).__name__} + {type(right).__name__}: Python raises TypeError")
        return _number(left + right)
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            raise Refused(f"calls {ast.unparse(node.func)!r:.30}, not one of {', '.join(FUNCTIONS)}")
        if node.keywords or len(node.args) != 1:
            raise Refused(f"{name}() with other than one plain argument")
        argument = _run(node.args[0], depth + 1)
        if not isinstance(argument, tuple | list):
            raise Refused(f"{name}() of a {type(argument).__name__}: Python raises TypeError")
        return _number(FUNCTIONS[name](argument))
    raise Refused(f"uses {type(node).__name__} ({ast.unparse(node)!r:.30}), which the checker does not run")


def run_expression(source: str) -> Any:
    """Parse `source` as one Python expression and compute its value without `eval` (see the
    module docstring). Raises SyntaxError if it is not Python, `Refused` if it cannot be run."""
    if len(source) > MAX_SOURCE:
        raise Refused(f"longer than {MAX_SOURCE} characters")
    tree = ast.parse(source, mode="eval")
    return _run(tree.body, 0)


def judge_code(answer: str, tests: Sequence[Test]) -> CodeVerdict:
    """Which rung of `RUNGS` `answer` reaches: code at all, Python, passing every one of `tests`
    (each a name and a check of the program's value). Never raises, whatever the text."""
    text = answer.strip()
    if not any(mark in CODE_MARKS for mark in text):
        return CodeVerdict(
            "not code", f"{shorten(text)!r} has no brackets, operators or commas: not a program"
        )
    try:
        value = run_expression(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        detail = error.msg if isinstance(error, SyntaxError) else type(error).__name__
        return CodeVerdict("not python", f"Python cannot parse it: {detail}")
    except Refused as error:
        return CodeVerdict("fails tests", f"running it failed: {error}")
    failed = [name for name, test in tests if not test(value)]
    if failed:
        reason = f"gives {value!r:.40}, failing {len(failed)} of {len(tests)} tests: {failed[0]}"
        return CodeVerdict("fails tests", reason)
    return CodeVerdict("correct", f"gives {value!r:.40}, passing all {len(tests)} tests")
