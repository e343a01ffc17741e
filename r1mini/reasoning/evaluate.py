"""Evaluation metrics over already-generated responses (R1 paper §3, "Evaluation Setup").

R1 samples k responses per question (temperature 0.6, top-p 0.95) and reports:

* pass@1, the mean correctness of the k responses;
* cons@k, whether the majority answer of the k responses is right (R1 reports cons@64);
* pass@k, the chance that at least one of k responses is right, estimated without bias from
  n >= k samples with c right (Chen et al. 2021, "Evaluating Large Language Models Trained on
  Code", eq. 1): ``1 - C(n-c, k) / C(n, k)``.

Alongside them we measure what R1-Zero's training curves show (§2.2.4): the mean response length
and the share of responses that reason at all. Everything here is a pure function of the task and
the response texts; sampling them from a model is generation's job.
"""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from r1mini.reasoning.rewards import format_reward
from r1mini.reasoning.task import Task
from r1mini.reasoning.template import parse_response
from r1mini.reasoning.tokenizer import split_tokens


@dataclass(frozen=True)
class SampleRecord:
    """One response to one question, scored."""

    answer: str | None  # the text of the only <answer> block, None if there is not exactly one
    correct: bool
    well_formed: bool  # format reward is 1
    reasons: bool  # has a non-empty <think> block
    n_tokens: int


def score_sample(task: Task, response: str) -> SampleRecord:
    """Parse and judge one response (the whole response, the template's prefill included)."""
    parsed = parse_response(response)
    return SampleRecord(
        answer=parsed.answer,
        correct=parsed.answer is not None and task.check(parsed.answer),
        well_formed=format_reward(response).value == 1.0,
        reasons=bool(parsed.thinking),
        n_tokens=len(split_tokens(response)),
    )


def pass_at_1(correct: Sequence[bool]) -> float:
    """The mean correctness of the samples of one question."""
    if not correct:
        raise ValueError("correct is empty; pass@1 needs at least one sample")
    return sum(correct) / len(correct)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are right.

    ``1 - C(n-c, k) / C(n, k)`` written as a product, ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``, so that
    no huge binomial coefficient is ever formed (Chen et al. 2021, Figure 3).
    """
    if n < 1:
        raise ValueError(f"n={n} must be at least 1 (samples per question)")
    if not 0 <= c <= n:
        raise ValueError(f"c={c} must lie in 0..n={n} (right samples among n)")
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must lie in 1..n={n} (pass@k needs at least k samples)")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1 - k / i
    return 1 - product


def majority_answer(answers: Sequence[str | None]) -> str | None:
    """The most common answer, whitespace-normalised; ties go to the first seen; None if none."""
    votes = Counter(" ".join(answer.split()) for answer in answers if answer is not None)
    return votes.most_common(1)[0][0] if votes else None


def cons_at_k(task: Task, answers: Sequence[str | None]) -> float:
    """1 if the majority answer of the samples is right, else 0 (R1's cons@64 with 64 samples)."""
    majority = majority_answer(answers)
    return float(majority is not None and task.check(majority))


def question_row(task: Task, responses: Sequence[str], k: int | None = None) -> dict[str, Any]:
    """Every metric for one question from its ``n`` responses; ``k`` for pass@k defaults to n."""
    records = [score_sample(task, response) for response in responses]
    n = len(records)
    k = n if k is None else k
    correct = [record.correct for record in records]
    return {
        "kind": task.kind,
        "prompt": task.prompt,
        "n": n,
        "correct": sum(correct),
        "pass@1": pass_at_1(correct),
        "k": k,
        "pass@k": pass_at_k(n, sum(correct), k),
        "cons@n": cons_at_k(task, [record.answer for record in records]),
        "mean_length": sum(record.n_tokens for record in records) / n,
        "reasoning_share": sum(record.reasons for record in records) / n,
        "format_share": sum(record.well_formed for record in records) / n,
    }


def evaluate(
    samples_by_question: Mapping[Task, Sequence[str]] | Iterable[tuple[Task, Sequence[str]]],
    k: int | None = None,
) -> list[dict[str, Any]]:
    """One ``question_row`` per question, from each task and its generated responses."""
    pairs = samples_by_question.items() if isinstance(samples_by_question, Mapping) else samples_by_question
    return [question_row(task, responses, k) for task, responses in pairs]


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The benchmark numbers: each metric averaged over questions."""
    if not rows:
        raise ValueError("rows is empty; summarize needs at least one question")
    metrics = ("pass@1", "pass@k", "cons@n", "mean_length", "reasoning_share", "format_share")
    summary = {metric: sum(row[metric] for row in rows) / len(rows) for metric in metrics}
    return {"questions": float(len(rows)), **summary}


def to_dataframe(rows: Sequence[Mapping[str, Any]]) -> Any:
    """The rows as a ``pandas.DataFrame`` (pandas is optional; ImportError says so if missing)."""
    try:
        import pandas
    except ImportError as error:
        raise ImportError("to_dataframe needs pandas: pip install pandas") from error
    return pandas.DataFrame(list(rows))
