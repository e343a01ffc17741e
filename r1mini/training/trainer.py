"""Next-token training with multi-token prediction: pretraining and supervised fine-tuning (SFT).

One step of DeepSeek-V3's training objective on a batch (`data.Batch`):

    L = CE_main + λ · (1/D) Σ_k CE_MTP,k + α · Σ_layers L_bal            (V3 eq. 25, eq. 17)

* CE_main: cross-entropy of each next token, averaged over the tokens whose weight is 1 (all of
  them in pretraining, the response only in SFT).
* CE_MTP,k: the same for MTP depth k, whose position i predicts token i+k+1 (§2.2, eq. 24);
  λ = 0.3 early in V3's training and 0.1 later.
* L_bal: the complementary sequence-wise balance loss (§2.1.2, eq. 17-20), with a tiny α
  (0.0001 in V3; 0 here by default, since the bias update does the balancing).

After the AdamW step the auxiliary-loss-free bias update (§2.1.2) nudges each expert's routing
bias against its load. The run's loop, checkpoints and exact resume are `loop.TrainingRun`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F

from r1mini.model import Transformer
from r1mini.parallel.data import data_parallel, global_share, local_rows
from r1mini.reasoning.task import Task
from r1mini.reasoning.template import encode_example
from r1mini.reasoning.tokenizer import PAD_ID
from r1mini.training.data import Batch, TaskBatches
from r1mini.training.loop import Metrics, RunConfig, TrainingRun

Mode = Literal["pretrain", "sft"]
MODES: dict[Mode, str] = {"pretrain": "all", "sft": "response"}  # mode -> the tokens that count


@dataclass
class TrainConfig(RunConfig):
    """Next-token training: `RunConfig`'s fields, whose defaults suit the mini model on 2 CPU cores
    (measured: SFT on arithmetic from scratch, 1200 steps of 32 examples, held-out greedy accuracy
    34% at step 600 and 100% of 32 tasks at step 1200, about 2.5 minutes without contention), plus:

    Attributes:
        mode: "pretrain" (loss on every token) or "sft" (loss on the response only).
        batch_size: examples per step.
        reasoning_share: share of examples that show their reasoning; the rest answer directly.
        mtp_weight: λ of the MTP loss (V3 §2.2: 0.3, then 0.1); 0 skips the MTP modules.
        balance_alpha: α of the sequence-wise balance loss (V3 §2.1.2: 0.0001); 0 disables it.
    """

    mode: Mode = "sft"
    batch_size: int = 32
    reasoning_share: float = 1.0
    mtp_weight: float = 0.3
    balance_alpha: float = 0.0

    def rules(self) -> list[tuple[str, bool, str]]:
        return [
            *super().rules(),
            ("mode", self.mode in MODES, f"one of {list(MODES)}"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("reasoning_share", 0 <= self.reasoning_share <= 1, "in [0, 1]"),
            ("mtp_weight", self.mtp_weight >= 0, ">= 0 (0 skips MTP)"),
            ("balance_alpha", self.balance_alpha >= 0, ">= 0 (0 disables it)"),
        ]


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions with weight 1. logits: [B, T, V]; targets, weights: [B, T]."""
    ce = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction="none")  # [B*T]
    w = weights.flatten()  # [B*T]
    return (ce * w).sum() / w.sum().clamp(min=1)


class Trainer(TrainingRun):
    """Pretraining or SFT of `model` (see the module docstring). `batches(step) -> Batch` supplies
    the data; by default a mix of `config.kinds` tasks (`data.TaskBatches`).

    ``Trainer(model, TrainConfig(steps=200), out_dir="runs/sft").run()`` trains and checkpoints;
    ``Trainer.resume("runs/sft/checkpoint").run()`` continues a stopped run exactly.
    """

    config_class = TrainConfig
    progress_keys: ClassVar[tuple[str, ...]] = ("loss", "tokens_per_s")

    def __init__(
        self,
        model: Transformer,
        config: TrainConfig,
        *,
        batches: Callable[[int], Batch] | None = None,
        out_dir: str | Path | None = None,
        callback: Callable[[Metrics], None] | None = None,
        progress: bool = True,
    ) -> None:
        super().__init__(model, config, out_dir=out_dir, callback=callback, progress=progress)
        local_rows(config.batch_size, "batch_size")  # data parallel: a multiple of the processes
        self.step_forward = data_parallel(self.model, self.forward)
        self.batches = batches or TaskBatches(
            kinds=config.kinds,
            batch_size=config.batch_size,
            seed=config.seed,
            loss_on=MODES[config.mode],
            template=config.template,
            reasoning_share=config.reasoning_share,
            difficulty=config.difficulty,
        )

    def sequence_length(self, task: Task) -> int:
        """A whole training example: prompt, reasoning, answer and `<eos>`."""
        return len(encode_example(task, self.config.template)[0])

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits [B, T, V] and, when MTP is trained, each depth's logits (D x [B, T-k, V])."""
        logits, hidden = self.model(tokens, return_hidden=True)  # [B, T, V], [B, T, dim]
        train_mtp = self.config.mtp_weight > 0 and len(self.model.mtp) > 0
        return logits, self.model.mtp_logits(hidden, tokens) if train_mtp else []

    def train_step(self) -> Metrics:
        c = self.config
        start = time.perf_counter()
        batch = self.batches(self.step)
        rows = local_rows(batch.tokens.shape[0], "batch_size")  # this process's share
        tokens = batch.tokens[rows].to(self.model.device)  # [B, T]
        weights = batch.weights[rows].to(self.model.device)  # [B, T]

        logits, depths = self.step_forward(tokens)
        share = global_share(weights[:, 1:].sum())  # this process's part of the global token mean
        ce = masked_cross_entropy(logits[:, :-1], tokens[:, 1:], weights[:, 1:]) * share  # t predicts t+1
        loss, metrics = ce, {"ce": ce.item()}
        if depths:  # D x [B, T-k, V]: position i predicts token i+k+1
            mtp = torch.stack(
                [
                    masked_cross_entropy(depth[:, :-1], tokens[:, k + 1 :], weights[:, k + 1 :])
                    * global_share(weights[:, k + 1 :].sum())
                    for k, depth in enumerate(depths, start=1)
                ]
            ).mean()  # (1/D) Σ_k CE_k, eq. 25
            loss = loss + c.mtp_weight * mtp
            metrics["mtp_loss"] = mtp.item()
        if c.balance_alpha > 0:
            balance = self.model.balance_loss()  # Σ over MoE layers of eq. 17, without α
            loss = loss + c.balance_alpha * balance
            metrics["balance_loss"] = balance.item()

        metrics = {"loss": loss.item(), **metrics, **self.optimizer_step(loss), **self.balance_experts()}
        n_tokens = int((tokens != PAD_ID).sum())
        metrics["tokens"] = n_tokens
        metrics["tokens_per_s"] = n_tokens / (time.perf_counter() - start)
        return metrics
