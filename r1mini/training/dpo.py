"""Preference tuning with Direct Preference Optimization (DPO; Rafailov et al., arXiv 2305.18290).

The usual recipe for a chat LLM has three steps: language modelling (a base model), supervised
fine-tuning on demonstrations, and *preference tuning* on pairs of responses people ranked. RLHF
does the last step with a learned reward model and RL; DPO does it with one supervised-style loss on
the pairs themselves, no reward model and no sampling. R1 departs from the recipe: its RL stages
reward reasoning with rules (§2.2.2), and only its last stage uses reward models trained on
preferences, for the prompts rules cannot judge (§2.3.4; `GRPOTrainer`'s `preference`).

For a prompt x with a preferred response y_w and a rejected one y_l, DPO's loss is

    L = −log σ( β · [ (log π_θ(y_w|x) − log π_ref(y_w|x)) − (log π_θ(y_l|x) − log π_ref(y_l|x)) ] )

(paper eq. 7): the Bradley-Terry loss of a reward model whose reward is β times the log-ratio of
the policy to a frozen reference, the "implicit reward" `β · log π_θ/π_ref` (`dpo_loss` reports it
for both responses). Log-probabilities are summed over the response's tokens, the prompt excluded,
at temperature 1 over the tokenizer's vocabulary.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from r1mini.model import Transformer
from r1mini.reasoning.reward_model import preference_loss
from r1mini.reasoning.template import encode_conversation
from r1mini.reasoning.tokenizer import PAD_ID, VOCAB_SIZE
from r1mini.training.data import step_seed
from r1mini.training.grpo_loss import sequence_logprobs
from r1mini.training.loop import Metrics, RunConfig, TrainingRun
from r1mini.training.preference import Pair


@dataclass
class DPOConfig(RunConfig):
    """DPO: `RunConfig`'s fields with defaults for a short run on the mini model (a constant lr after
    a short warmup, no weight decay, no bias update), plus:

    Attributes:
        batch_size: preference pairs per step.
        beta: β, how far the policy may move from the reference for a given preference (0.1 in the
            DPO paper's experiments).
    """

    steps: int = 40
    lr: float = 1e-4
    warmup_steps: int = 5
    final_lr_share: float = 1.0
    weight_decay: float = 0.0
    bias_gamma: float = 0.0
    batch_size: int = 16
    beta: float = 0.1

    def rules(self) -> list[tuple[str, bool, str]]:
        return [
            *super().rules(),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("beta", self.beta > 0, "> 0"),
        ]


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, Metrics]:
    """DPO's loss (module docstring) from summed log-probabilities [N] of each pair's preferred and
    rejected response under the policy and the reference; stats: the mean implicit rewards of both,
    their margin, and the share of pairs whose preferred response has the higher implicit reward."""
    chosen = beta * (policy_chosen - ref_chosen)  # [N] implicit rewards
    rejected = beta * (policy_rejected - ref_rejected)  # [N]
    loss = preference_loss(chosen, rejected)
    with torch.no_grad():
        stats = {
            "reward_chosen": chosen.mean().item(),
            "reward_rejected": rejected.mean().item(),
            "reward_margin": (chosen - rejected).mean().item(),
            "reward_accuracy": (chosen > rejected).float().mean().item(),
        }
    return loss, stats


def encode_pairs(pairs: Sequence[Pair], template: str = "r1-chat") -> tuple[torch.Tensor, torch.Tensor]:
    """Every pair's preferred then rejected response after its prompt, right-padded: tokens [2N, T]
    (rows 0..N−1 preferred, N..2N−1 rejected) and mask [2N, T−1], True where position t predicts a
    response token (`sequence_logprobs`' layout)."""
    rows = [encode_conversation(t.prompt, r, template) for t, r, _ in pairs]
    rows += [encode_conversation(t.prompt, r, template) for t, _, r in pairs]
    length = max(len(ids) for ids, _ in rows)
    tokens = torch.full((len(rows), length), PAD_ID, dtype=torch.long)  # [2N, T]
    mask = torch.zeros(len(rows), length - 1, dtype=torch.bool)  # [2N, T-1]
    for row, (ids, n_prompt) in enumerate(rows):
        tokens[row, : len(ids)] = torch.tensor(ids)
        mask[row, n_prompt - 1 : len(ids) - 1] = True  # position t predicts token t+1
    return tokens, mask


def response_logprobs(model: Transformer, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log π(response | prompt) of each row, summed over its response tokens: [B]."""
    logits = model(tokens)[..., :VOCAB_SIZE]  # [B, T, V']
    return (sequence_logprobs(logits, tokens) * mask).sum(-1)  # [B]


class DPOTrainer(TrainingRun):
    """DPO on `model` from preference `pairs` (see the module docstring): each step draws
    `batch_size` pairs (seeded by the step) and takes one AdamW step on `dpo_loss`. `reference` is
    the frozen π_ref (default: a copy of `model` now)."""

    config_class = DPOConfig
    progress_keys: ClassVar[tuple[str, ...]] = ("loss", "reward_margin")

    def __init__(
        self,
        model: Transformer,
        config: DPOConfig,
        *,
        pairs: Sequence[Pair],
        reference: Transformer | None = None,
        out_dir: str | Path | None = None,
        callback: Callable[[Metrics], None] | None = None,
        progress: bool = True,
    ) -> None:
        super().__init__(model, config, out_dir=out_dir, callback=callback, progress=progress)
        if not pairs:
            raise ValueError("DPOTrainer: pairs is empty; preference tuning needs ranked pairs")
        self.pairs = list(pairs)
        self.reference = model.clone() if reference is None else reference
        self.reference.requires_grad_(False).eval()

    def frozen_models(self) -> dict[str, Transformer]:
        return {"reference": self.reference}

    def train_step(self) -> Metrics:
        c = self.config
        start = time.perf_counter()
        rng = random.Random(step_seed(c.seed, self.step))
        batch = [rng.choice(self.pairs) for _ in range(c.batch_size)]
        tokens, mask = encode_pairs(batch, c.template)  # [2N, T], [2N, T-1]
        tokens, mask = tokens.to(self.model.device), mask.to(self.model.device)
        with torch.no_grad():
            ref = response_logprobs(self.reference, tokens, mask)  # [2N]
        policy = response_logprobs(self.model, tokens, mask)  # [2N]
        n = len(batch)
        loss, stats = dpo_loss(policy[:n], policy[n:], ref[:n], ref[n:], c.beta)
        metrics = {"loss": loss.item(), **stats, **self.optimizer_step(loss), **self.balance_experts()}
        metrics["tokens"] = int((tokens != PAD_ID).sum())
        metrics["steps_per_min"] = 60 / (time.perf_counter() - start)
        return metrics
