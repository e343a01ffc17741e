"""A tiny, safe parser for countdown answers: whole numbers, ``+ - * /`` and parentheses.

Rule-based rewards must never run what a model wrote (R1 paper §2.2.2 relies on rules, not on
``eval``), so answers are read by a recursive-descent parser over this grammar::

    expression := term   (("+" | "-") term)*
    term       := factor (("*" | "/") factor)*
    factor     := NUMBER | "(" expression ")"

``*`` and ``/`` bind tighter than ``+`` and ``-``; operators of equal rank apply left to right.
Division must be exact, as in the Countdown game: ``8/3`` is an error, not ``2`` or ``2.67``.
"""

import re
from dataclasses import dataclass

MAX_NESTING = 32  # deeper parentheses are refused before Python's recursion limit is near
MAX_DIGITS = 12  # longer numbers are refused, never converted
MAX_VALUE = 10**15  # a value beyond it is refused: a product of many numbers cannot grow unbounded
_TOKEN = re.compile(r"\s*(?:([0-9]+)|(\S))")


class ExpressionError(ValueError):
    """The text is not a valid expression, or it divides by zero or not exactly."""


@dataclass(frozen=True)
class Evaluation:
    """The value of an expression and the numbers it is written with, left to right."""

    value: int
    numbers: tuple[int, ...]


def _tokenize(text: str) -> list[str]:
    """Numbers and single-character symbols; raises on characters outside the grammar."""
    tokens = []
    for match in _TOKEN.finditer(text):
        number, symbol = match.groups()
        if symbol is not None and symbol not in "+-*/()":
            raise ExpressionError(f"unexpected character {symbol!r} at position {match.start(2)}")
        tokens.append(number or symbol)
    return tokens


def _bounded(value: int) -> int:
    if abs(value) > MAX_VALUE:
        raise ExpressionError(f"a value grows beyond {MAX_VALUE:.0e} in magnitude")
    return value


class _Parser:
    """Walks the token list once; each grammar rule is one method."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0
        self.numbers: list[int] = []

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ExpressionError("expression ends too early")
        self.position += 1
        return token

    def expression(self, depth: int) -> int:
        value = self.term(depth)
        while self.peek() in ("+", "-"):
            operator = self.take()
            right = self.term(depth)
            value = _bounded(value + right if operator == "+" else value - right)
        return value

    def term(self, depth: int) -> int:
        value = self.factor(depth)
        while self.peek() in ("*", "/"):
            operator = self.take()
            right = self.factor(depth)
            if operator == "*":
                value = _bounded(value * right)
            elif right == 0:
                raise ExpressionError(f"division by zero in {value}/{right}")
            elif value % right:
                raise ExpressionError(f"{value}/{right} is not a whole number")
            else:
                value //= right
        return value

    def factor(self, depth: int) -> int:
        token = self.take()
        if token.isdigit():
            if len(token) > MAX_DIGITS:
                raise ExpressionError(f"number {token[:MAX_DIGITS]}… has more than {MAX_DIGITS} digits")
            self.numbers.append(int(token))
            return int(token)
        if token != "(":
            raise ExpressionError(f"expected a number or '(', found {token!r}")
        if depth == MAX_NESTING:
            raise ExpressionError(f"parentheses nest deeper than {MAX_NESTING}")
        value = self.expression(depth + 1)
        if self.take() != ")":
            raise ExpressionError("'(' is never closed")
        return value


def evaluate_expression(text: str) -> Evaluation:
    """Evaluate ``text`` exactly; raises ExpressionError saying what is wrong with it."""
    parser = _Parser(_tokenize(text))
    value = parser.expression(depth=0)
    if parser.peek() is not None:
        raise ExpressionError(f"unexpected {parser.peek()!r} after a complete expression")
    return Evaluation(value=value, numbers=tuple(parser.numbers))
