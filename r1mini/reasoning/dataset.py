"""Seeded streams of verifiable tasks, split into training and held-out problems.

Every stream draws from ``random.Random(seed)``, so the same seed gives the same problems on every
machine. A stream for one split skips the problems of the other, and the split of a problem is a
hash of its prompt (``task.split_of``), so no held-out problem is ever trained on: the R1 paper
evaluates on benchmarks kept apart from its RL prompts (§3).

At the default difficulties every training example (``template.render_example``) with the two
compact templates fits in 256 tokens, half the miniature model's 512-token context. Longest
measured over 5,000 problems per kind and split:

=============  =======  ===============  ========
kind           r1-chat  r1-zero-short    r1-zero
=============  =======  ===============  ========
arithmetic     63       113              423
countdown      192      242              552
lists          194      244              554
lists-python   94       144              454
format         41       91               401
=============  =======  ===============  ========

``tests/test_reasoning_tasks.py`` checks the 256-token bound on every run.
"""

import itertools
import random
from collections.abc import Callable, Iterator

from r1mini.reasoning import arithmetic, countdown, formatting, lists
from r1mini.reasoning.task import SPLITS, Split, Task

MAKERS: dict[str, Callable[[random.Random, int], Task]] = {
    arithmetic.KIND: arithmetic.make_arithmetic,
    countdown.KIND: countdown.make_countdown,
    lists.KIND: lists.make_list,
    lists.PROGRAM_KIND: lists.make_list_program,
    formatting.KIND: formatting.make_format,
}
DEFAULT_DIFFICULTY = {
    arithmetic.KIND: arithmetic.DEFAULT_DIFFICULTY,
    countdown.KIND: countdown.DEFAULT_DIFFICULTY,
    lists.KIND: lists.DEFAULT_DIFFICULTY,
    lists.PROGRAM_KIND: lists.DEFAULT_DIFFICULTY,
    formatting.KIND: formatting.DEFAULT_DIFFICULTY,
}
KINDS = tuple(MAKERS)
# kinds no rule can judge, with the hidden rater whose rankings stand in for people's (R1 §2.3.4)
RATERS: dict[str, Callable[[Task, str], float]] = {formatting.KIND: formatting.rate_reply}
MAX_MISSES = 10_000  # draws in a row from the other split before a stream gives up


def task_stream(
    kind: str, seed: int = 0, split: Split = "train", difficulty: int | None = None
) -> Iterator[Task]:
    """An endless, reproducible stream of ``kind`` tasks from one split."""
    if kind not in MAKERS:
        raise ValueError(f"kind={kind!r} is not a task kind; choose from {list(KINDS)}")
    if split not in SPLITS:
        raise ValueError(f"split={split!r} must be one of {list(SPLITS)}")
    make = MAKERS[kind]
    level = DEFAULT_DIFFICULTY[kind] if difficulty is None else difficulty
    rng = random.Random(seed)
    misses = 0
    while True:
        task = make(rng, level)
        if task.split == split:
            misses = 0
            yield task
            continue
        misses += 1
        if misses == MAX_MISSES:
            raise ValueError(
                f"kind={kind!r}, difficulty={level}: no {split} problem in {MAX_MISSES} draws; "
                "the problem space is too small for this split"
            )


def generate_tasks(
    kind: str, n: int, seed: int = 0, split: Split = "train", difficulty: int | None = None
) -> list[Task]:
    """The first ``n`` tasks of ``task_stream(kind, seed, split, difficulty)``."""
    if n < 0:
        raise ValueError(f"n={n} must be non-negative (number of tasks)")
    return list(itertools.islice(task_stream(kind, seed, split, difficulty), n))
