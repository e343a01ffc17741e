"""Argument checks shared by the model and generation: a wrong type or value is a `ValueError`
that names the argument, the value and the rule, raised before any computation."""

from __future__ import annotations

import math
import numbers
from typing import Any


def integer(name: str, value: Any, minimum: int | None = None) -> int:
    """`value` as an int; refuses floats (3.0 included), bools and anything below `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}={value!r} must be an integer, not a {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={value} must be at least {minimum}")
    return int(value)


def finite(name: str, value: Any, minimum: float | None = None) -> float:
    """`value` as a float; refuses non-numbers, NaN, ±inf and anything below `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}={value!r} must be a number, not a {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name}={value} must be a finite number")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={value} must be at least {minimum}")
    return float(value)
