"""`check`: the self-check cell under each exercise tells the reader whether their answer is right."""

from __future__ import annotations

import math
from typing import Any


def check(answer: Any, expected: Any, rel_tol: float = 0.02) -> bool:
    """Print whether `answer` matches `expected` (floats within `rel_tol`; integers, strings and
    other values exactly); return the verdict.

    `answer = None` (the exercise's starting value) means "not answered yet".
    """
    if answer is None:
        print("Not answered yet: replace `None` with your answer and run the cell again.")
        return False
    if isinstance(expected, float):
        right = isinstance(answer, int | float) and math.isclose(
            answer, expected, rel_tol=rel_tol, abs_tol=1e-12
        )
    else:
        right = answer == expected
    if right:
        print(f"Correct: {answer!r}.")
    else:
        print(f"Not quite: {answer!r} is not the value the model gives. Try again.")
    return right
