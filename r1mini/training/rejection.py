"""Rejection sampling (R1 paper §2.3.3): sample several responses to each training prompt, keep
only the ones a rule verifies, and fine-tune on those.

R1's rule keeps a response when its answer is right, it is well-formed, and its chain of thought is
in one language ("we filtered out chain-of-thought with mixed languages"). `judge_samples` applies
that rule to each response and says what became of it; `keep_verified` is the examples it keeps;
`rejection_sample` samples a model and keeps what passes. The R1 pipeline (`pipeline.py`) uses it
between its two RL stages, and distillation (§2.4) to collect the teacher's traces.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from r1mini.model import Transformer
from r1mini.reasoning.evaluate import score_sample
from r1mini.reasoning.generate import generate
from r1mini.reasoning.rewards import language_reward
from r1mini.reasoning.task import Task
from r1mini.reasoning.template import decode_response, encode_prompt, parse_response
from r1mini.reasoning.tokenizer import VOCAB_SIZE
from r1mini.training.data import TaskConfig, sample_tasks, step_seed


@dataclass
class RejectionConfig(TaskConfig):
    """Rejection sampling: `samples_per_prompt` responses to each of `prompts` training tasks
    (drawn by `sample_tasks(kinds, prompts, seed, 0, "train", difficulty)`, `TaskConfig`'s fields),
    sampled at `temperature` / `top_p` (R1's evaluation setting, §3, by default) in batches of
    `batch_size`."""

    prompts: int = 512
    samples_per_prompt: int = 4
    temperature: float = 0.6
    top_p: float | None = 0.95
    batch_size: int = 128

    def rules(self) -> list[tuple[str, bool, str]]:
        return [
            *super().rules(),
            ("prompts", self.prompts >= 1, ">= 1"),
            ("samples_per_prompt", self.samples_per_prompt >= 1, ">= 1"),
            ("temperature", self.temperature > 0, "> 0 (greedy samples would all be alike)"),
            ("top_p", self.top_p is None or 0 < self.top_p <= 1, "None or in (0, 1]"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
        ]

    def tasks(self) -> list[Task]:
        """The prompts to sample, the same on every call."""
        return sample_tasks(self.kinds, self.prompts, self.seed, 0, "train", self.difficulty)


# What rejection sampling makes of one response: "kept" (a new example), "repeat" (verified, but
# word for word a response kept before), or dropped, and why
VERDICTS = ("kept", "repeat", "malformed", "wrong answer", "mixed language")
VERIFIED = ("kept", "repeat")  # the verdicts of responses that pass the rule


@dataclass(frozen=True)
class Judged:
    """One response judged: its `verdict` (one of `VERDICTS`) and, when kept, the `example` it
    adds: its task with the response's thinking and answer as the reference."""

    verdict: str
    example: Task | None = None


def judge_samples(samples: Iterable[tuple[Task, str]]) -> list[Judged]:
    """Rejection sampling's rule (R1 §2.3.3) on each (task, response), in order. A response is
    verified when it is well-formed ("malformed" otherwise), has the right answer ("wrong answer")
    and reasons only in the task's language ("mixed language": R1 "filtered out chain-of-thought
    with mixed languages"; an empty <think> block has no language to check). A verified response
    is "kept" the first time its (prompt, thinking, answer) is seen, a "repeat" after that."""
    judged: list[Judged] = []
    seen: set[tuple[str, str, str]] = set()
    for task, response in samples:
        record = score_sample(task, response)
        parsed = parse_response(response)
        if parsed.thinking is None or parsed.answer is None or not record.well_formed:
            judged.append(Judged("malformed"))
        elif not record.correct:
            judged.append(Judged("wrong answer"))
        elif parsed.thinking and language_reward(response, task).value < 1.0:
            judged.append(Judged("mixed language"))
        elif (task.prompt, parsed.thinking, parsed.answer) in seen:
            judged.append(Judged("repeat"))
        else:
            seen.add((task.prompt, parsed.thinking, parsed.answer))
            example = dataclasses.replace(task, thinking=parsed.thinking, answer=parsed.answer)
            judged.append(Judged("kept", example))
    return judged


def keep_verified(samples: Iterable[tuple[Task, str]]) -> list[Task]:
    """The examples rejection sampling keeps (`judge_samples`): each verified response once, as a
    task whose reference thinking and answer are the response's."""
    return [j.example for j in judge_samples(samples) if j.example is not None]


def rejection_sample(model: Transformer, config: RejectionConfig) -> tuple[list[Task], int]:
    """Sample `config`'s responses from `model` and keep the verified ones (`keep_verified`).
    Returns the kept examples and how many responses were sampled."""
    tasks = [task for task in config.tasks() for _ in range(config.samples_per_prompt)]
    responses: list[str] = []
    for index, start in enumerate(range(0, len(tasks), config.batch_size)):
        prompts = [
            encode_prompt(task.prompt, config.template) for task in tasks[start : start + config.batch_size]
        ]
        budget = min(config.max_new_tokens, model.config.max_seq_len - max(map(len, prompts)))
        gen = generate(
            model,
            prompts,
            budget,
            temperature=config.temperature,
            top_p=config.top_p,
            vocab_limit=VOCAB_SIZE,
            seed=step_seed(config.seed, index),
        )
        responses += [decode_response(ids, config.template) for ids in gen.generated]
    return keep_verified(zip(tasks, responses, strict=True)), len(tasks)
