"""More samples per question: pass@k and cons@k as curves over k.

R1 paper §3 ("Evaluation Setup") samples k responses per question and reports pass@1, their mean
correctness, and for AIME cons@64, the majority vote of 64 samples (Table 2: R1-Zero's AIME 2024
pass@1 of 71.0 becomes 86.7 by majority vote, §2.2.4). The two grow differently with k:

* pass@k, "is at least one of k samples right", counts a question as solved if the model ever
  finds the answer (Chen et al. 2021, eq. 1; ``evaluate.pass_at_k`` estimates it without bias
  from n >= k samples);
* cons@k, "is the most common answer of k samples right", is what a user who can ask k times but
  cannot check the answers gets: self-consistency (Wang et al. 2023, arXiv 2203.11171). It gains
  when wrong answers disagree with each other and the right one recurs.

From n samples per question, both curves are estimated for every k <= n: pass@k exactly by the
unbiased estimator, cons@k by voting among random subsets of k of the n answers.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from r1mini.reasoning.evaluate import cons_at_k, pass_at_k
from r1mini.reasoning.task import Task


def _check_ks(ks: Sequence[int], n: int) -> None:
    if not ks:
        raise ValueError("ks is empty; give the values of k to evaluate")
    bad = [k for k in ks if not 1 <= k <= n]
    if bad:
        raise ValueError(f"ks={list(ks)}: {bad} outside 1..n={n} (the samples per question)")


def pass_at_k_curve(rows: Sequence[Mapping[str, Any]], ks: Sequence[int]) -> list[float]:
    """Mean unbiased pass@k over questions, for each k in ``ks``.

    rows: ``evaluate``'s rows (one per question, with ``n`` samples of which ``correct`` right).
    """
    if not rows:
        raise ValueError("rows is empty; pass_at_k_curve needs at least one question")
    _check_ks(ks, min(row["n"] for row in rows))
    return [sum(pass_at_k(row["n"], row["correct"], k) for row in rows) / len(rows) for k in ks]


def cons_at_k_curve(
    tasks: Sequence[Task],
    answers: Sequence[Sequence[str | None]],
    ks: Sequence[int],
    draws: int = 16,
    seed: int = 0,
) -> list[float]:
    """Mean cons@k over questions, for each k in ``ks``, each averaged over ``draws`` random
    subsets of k of a question's answers (in random order: ``majority_answer`` breaks ties by
    the first answer seen). With k = n every draw votes among all n answers.

    answers: per task, the answers of its n samples (None where a response had no answer).
    """
    if len(tasks) != len(answers) or not tasks:
        raise ValueError(
            f"got {len(tasks)} tasks and {len(answers)} answer lists; need the same, at least one"
        )
    if draws < 1:
        raise ValueError(f"draws={draws} must be at least 1 (random subsets per k)")
    _check_ks(ks, min(len(a) for a in answers))
    rng = random.Random(seed)
    curve = []
    for k in ks:
        total = 0.0
        for task, question_answers in zip(tasks, answers, strict=True):
            for _ in range(draws):
                total += cons_at_k(task, rng.sample(list(question_answers), k))
        curve.append(total / (len(tasks) * draws))
    return curve
