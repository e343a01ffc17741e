"""Training data: verifiable tasks turned into padded token batches, reproducible from (seed, step).

Two kinds of next-token batch share one layout, `tokens` [B, T] and `weights` [B, T], where
`weights[b, t] = 1` if predicting token t counts in the loss:

* pretraining ("all"): every token of the text after `<bos>` is a target;
* supervised fine-tuning ("response"): only the response is, as in R1's cold start (R1 paper
  §2.3.1) and its rejection-sampling SFT (§2.3.3): the prompt is context, not something to learn.

`reasoning_share` is the chance that an example shows its reasoning; the rest answer directly
with an empty thinking block (`<think>\\n\\n</think>\\n<answer>…`). A base trained with a small
share mostly answers directly and only sometimes reasons, the starting point from which R1-Zero's
RL (§2.2.4) can be seen to pull reasoning up.

Everything a batch holds is drawn from a generator seeded by `step_seed(seed, step)`, never from
global state, so a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from r1mini.reasoning.dataset import KINDS, task_stream
from r1mini.reasoning.task import Split, Task
from r1mini.reasoning.template import TEMPLATES, encode_example
from r1mini.reasoning.tokenizer import PAD_ID

LossOn = Literal["all", "response"]
LOSS_ON: tuple[LossOn, ...] = ("all", "response")


@dataclass
class TaskConfig:
    """What every config that draws tasks shares: training runs (`loop.RunConfig`) and rejection
    sampling (`pipeline.RejectionConfig`). Each adds its own fields and rules (`rules()`).

    Attributes:
        kinds: task kinds to draw; difficulty: their difficulty (None: each kind's default).
        template: chat template of prompts and examples.
        seed: seeds every random draw, per step.
        max_new_tokens: longest response sampled.
    """

    kinds: tuple[str, ...] = ("arithmetic",)
    difficulty: int | None = None
    template: str = "r1-chat"
    seed: int = 0
    max_new_tokens: int = 128

    def __post_init__(self) -> None:
        self.kinds = tuple(self.kinds)  # JSON gives back a list
        for field in dataclasses.fields(self):  # types first: NaN or 2.5 steps pass comparisons
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{type(self).__name__}: {field.name}={value!r} must be a finite number")
            if field.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{type(self).__name__}: {field.name}={value!r} must be an integer")
        for field, ok, rule in self.rules():
            if not ok:
                raise ValueError(f"{type(self).__name__}: {field}={getattr(self, field)!r} must be {rule}")

    def rules(self) -> list[tuple[str, bool, str]]:
        """(field, whether its value is valid, the rule) for every field; subclasses add theirs."""
        return [
            ("kinds", bool(self.kinds) and set(self.kinds) <= set(KINDS), f"non-empty, from {KINDS}"),
            ("template", self.template in TEMPLATES, f"one of {list(TEMPLATES)}"),
            ("max_new_tokens", self.max_new_tokens >= 1, ">= 1"),
        ]


@dataclass(frozen=True)
class Batch:
    """Right-padded examples. tokens: [B, T] int64 (`<pad>` after each example); weights: [B, T]
    fp32, 1 where the token is a target of the loss, 0 on prompts (SFT), `<bos>` and padding."""

    tokens: torch.Tensor
    weights: torch.Tensor

    @property
    def n_tokens(self) -> int:
        """Tokens that are not padding (what the model reads)."""
        return int((self.tokens != PAD_ID).sum())


def step_seed(seed: int, step: int, *within: int) -> int:
    """A 63-bit seed for step `step` of a run seeded `seed` (a stable hash, the same on every
    machine); `within` narrows it further, e.g. to one prompt of the step."""
    digest = hashlib.sha256("/".join(map(str, (seed, step, *within))).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def sample_tasks(
    kinds: Sequence[str],
    n: int,
    seed: int,
    step: int,
    split: Split = "train",
    difficulty: int | None = None,
) -> list[Task]:
    """`n` tasks of step `step`, each of a kind drawn uniformly from `kinds` (difficulty None: each
    kind's default)."""
    if not kinds or any(kind not in KINDS for kind in kinds):
        raise ValueError(f"sample_tasks: kinds={list(kinds)} must be a non-empty list from {list(KINDS)}")
    if n < 1:
        raise ValueError(f"sample_tasks: n={n} must be >= 1")
    rng = random.Random(step_seed(seed, step))
    chosen = [rng.choice(list(kinds)) for _ in range(n)]
    streams = {kind: task_stream(kind, rng.randrange(2**63), split, difficulty) for kind in kinds}
    return [next(streams[kind]) for kind in chosen]


def encode_batch(
    tasks: Sequence[Task],
    *,
    loss_on: LossOn = "response",
    template: str = "r1-chat",
    reasoning_share: float = 1.0,
    seed: int = 0,
) -> Batch:
    """Each task as prompt + reference response + `<eos>`, right-padded into one `Batch`.

    loss_on: "all" (pretraining) or "response" (SFT). reasoning_share: chance that an example keeps
    `task.thinking`; seed draws which ones do.
    """
    if loss_on not in LOSS_ON:
        raise ValueError(f"encode_batch: loss_on={loss_on!r} must be one of {LOSS_ON}")
    if not 0 <= reasoning_share <= 1:
        raise ValueError(f"encode_batch: reasoning_share={reasoning_share} must be in [0, 1]")
    if not tasks:
        raise ValueError("encode_batch: tasks is empty; a batch needs at least one example")
    rng = random.Random(seed)
    examples = []
    for task in tasks:
        shown = task if rng.random() < reasoning_share else dataclasses.replace(task, thinking="")
        examples.append(encode_example(shown, template))  # (ids, n_prompt)
    length = max(len(ids) for ids, _ in examples)
    tokens = torch.full((len(examples), length), PAD_ID, dtype=torch.long)  # [B, T]
    weights = torch.zeros(len(examples), length)  # [B, T]
    for row, (ids, n_prompt) in enumerate(examples):
        tokens[row, : len(ids)] = torch.tensor(ids)
        first_target = 1 if loss_on == "all" else n_prompt  # `<bos>` is never predicted
        weights[row, first_target : len(ids)] = 1.0
    return Batch(tokens=tokens, weights=weights)


@dataclass(frozen=True)
class TaskBatches:
    """The default data of the next-token trainer: `batches(step)` is step `step`'s `Batch`, a mix
    of `kinds` drawn by `sample_tasks` and encoded by `encode_batch`."""

    kinds: tuple[str, ...]
    batch_size: int
    seed: int = 0
    loss_on: LossOn = "response"
    template: str = "r1-chat"
    reasoning_share: float = 1.0
    difficulty: int | None = None

    def __call__(self, step: int) -> Batch:
        tasks = sample_tasks(self.kinds, self.batch_size, self.seed, step, "train", self.difficulty)
        return encode_batch(
            tasks,
            loss_on=self.loss_on,
            template=self.template,
            reasoning_share=self.reasoning_share,
            seed=step_seed(self.seed + 1, step),
        )
