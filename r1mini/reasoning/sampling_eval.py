"""Evaluating a model as the R1 paper does: sample k responses per question, then score them.

R1 paper §3, "Evaluation Setup": greedy decoding makes long reasoning models repeat themselves
and varies from checkpoint to checkpoint, so R1 instead samples k responses per question with
temperature 0.6 and top-p 0.95 and reports pass@1 (their mean correctness) and cons@64 (majority
vote). ``evaluate_model`` draws those samples with ``generate`` and hands the texts to the
metrics of ``r1mini.reasoning.evaluate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

from r1mini.model import Transformer
from r1mini.reasoning.evaluate import evaluate
from r1mini.reasoning.generate import generate
from r1mini.reasoning.task import Task
from r1mini.reasoning.template import decode_response, encode_prompt
from r1mini.reasoning.tokenizer import VOCAB_SIZE


def evaluate_model(
    model: Transformer,
    tasks: Sequence[Task],
    k: int = 4,
    *,
    template: str = "r1-chat",
    temperature: float = 0.6,
    top_p: float | None = 0.95,
    top_k: int | None = None,
    max_new_tokens: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    pass_k: int | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Sample ``k`` responses to each task and return ``evaluate``'s row per question.

    The k samples of a question are consecutive rows of the batches of ``batch_size`` sequences;
    batch ``i`` is sampled with seed ``seed + i``, so the same call gives the same rows.
    max_new_tokens defaults to what the context leaves after the longest prompt of a batch.
    pass_k: the k of pass@k (default: all k samples). Rows hold pass@1, pass@k, cons@n (n = k),
    mean_length, reasoning_share and format_share (see ``evaluate.question_row``).
    """
    if not tasks:
        raise ValueError("tasks is empty; evaluate_model needs at least one question")
    if k < 1:
        raise ValueError(f"k={k} must be at least 1 (samples per question)")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be at least 1 (sequences per batch)")
    prompts = [encode_prompt(task.prompt, template) for task in tasks for _ in range(k)]
    responses: list[str] = []
    starts = range(0, len(prompts), batch_size)
    for index, start in enumerate(tqdm(starts, desc="sampling", disable=not progress)):
        batch = prompts[start : start + batch_size]
        budget = max_new_tokens
        if budget is None:
            budget = model.config.max_seq_len - max(len(prompt) for prompt in batch)
        result = generate(
            model,
            batch,
            budget,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            vocab_limit=VOCAB_SIZE,
            seed=seed + index,
        )
        responses += [decode_response(ids, template) for ids in result.generated]
    samples = [(task, responses[i * k : (i + 1) * k]) for i, task in enumerate(tasks)]
    return evaluate(samples, k=pass_k)
