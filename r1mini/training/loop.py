"""What every trainer here shares: the optimizer step, expert balancing, the metrics a run reports,
held-out evaluation, checkpoints and exact resume.

A trainer subclasses `TrainingRun` and writes one method, `train_step`, which reads top to bottom
as the algorithm it implements (next-token prediction in `trainer.py`, GRPO in `grpo.py`) and
calls the two shared pieces of every step:

* `optimizer_step(loss)`: backward, clip the gradient norm, set the step's learning rate
  (`schedule.learning_rate`), AdamW update;
* `balance_experts()`: DeepSeek-V3's auxiliary-loss-free balancing (§2.1.2): every MoE layer's
  correction bias moves by γ against the load its experts received this step. It reports, per MoE
  layer, the busiest expert's load over the mean load (1 = perfectly balanced).

`run()` loops over steps, hands each step's metrics to a callback (notebooks plot them live),
shows a `tqdm.auto` bar, evaluates on held-out tasks every `eval_every` steps and writes a
checkpoint every `checkpoint_every` steps and at the end. Everything random in a step is drawn
from seeds derived from (seed, step), and the checkpoint holds the model, AdamW's moments, the
RNGs and the metric history, so `resume` continues exactly where the run stopped: the metrics of a
resumed run equal those of one that never stopped, except the wall-clock rates in `TIMING_METRICS`.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from tqdm.auto import tqdm

from r1mini.model import Transformer
from r1mini.parallel.data import barrier, is_leader, reduce_metrics, sum_expert_loads
from r1mini.reasoning.dataset import generate_tasks
from r1mini.reasoning.evaluate import summarize
from r1mini.reasoning.sampling_eval import evaluate_model
from r1mini.reasoning.task import Task
from r1mini.reasoning.template import encode_prompt
from r1mini.reasoning.tokenizer import VOCAB_SIZE
from r1mini.training.data import TaskConfig, sample_tasks
from r1mini.training.schedule import learning_rate
from r1mini.training.state import (
    find_checkpoint,
    load_frozen,
    load_training_state,
    read_state,
    save_training_state,
)

TIMING_METRICS = ("tokens_per_s", "steps_per_min")  # wall-clock rates: the only metrics resume can't repeat
CHECKPOINT = "checkpoint"  # the run's checkpoint directory inside its out_dir
CONTEXT_SAMPLE = 64  # training tasks checked against the context before a run starts
Metrics = dict[str, Any]


def step_seconds(metrics: Metrics) -> float:
    """One step's training time, evaluation excluded, from the rate it measured: 60 /
    `steps_per_min` (an RL step) or `tokens` / `tokens_per_s` (a next-token step); 0 for a
    row with neither (e.g. an evaluation before the first step)."""
    if "steps_per_min" in metrics:
        return 60 / metrics["steps_per_min"]
    if "tokens_per_s" in metrics:
        return metrics["tokens"] / metrics["tokens_per_s"]
    return 0.0


class DivergedError(ArithmeticError):
    """The loss or the gradient turned NaN or inf: the run stopped before the step reached the
    weights."""


@dataclass
class RunConfig(TaskConfig):
    """Hyper-parameters every trainer shares (each trainer's config adds its own and may change
    the defaults): `TaskConfig`'s (kinds, difficulty, template, seed, max_new_tokens), plus

    Attributes:
        steps: optimizer steps in the whole run (the schedule's length).
        lr: peak learning rate; warmup_steps: linear warmup; final_lr_share: share of lr left at
            the last step after cosine decay (1 = constant).
        weight_decay, beta1, beta2: AdamW's (decoupled) weight decay and moment decays.
        grad_clip: largest global gradient norm (0 disables clipping).
        bias_gamma: γ of the auxiliary-loss-free bias update (V3 §2.1.2; 0.001 in V3; 0 disables).
        checkpoint_every: write a checkpoint every this many steps (0: only at the end).
        eval_every: evaluate on held-out tasks every this many steps (0: never); eval_tasks:
            held-out tasks per kind; eval_temperature: 0 for greedy decoding, else sampled with
            top-p 0.95 as R1 evaluates (§3).
    """

    steps: int = 1200
    lr: float = 2e-3
    warmup_steps: int = 20
    final_lr_share: float = 0.1
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    bias_gamma: float = 1e-3
    checkpoint_every: int = 0
    eval_every: int = 0
    eval_tasks: int = 32
    eval_temperature: float = 0.0

    def rules(self) -> list[tuple[str, bool, str]]:
        return [
            *super().rules(),
            ("steps", self.steps >= 1, ">= 1"),
            ("lr", self.lr > 0, "> 0"),
            ("warmup_steps", self.warmup_steps >= 0, ">= 0"),
            ("final_lr_share", 0 <= self.final_lr_share <= 1, "in [0, 1]"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("beta1", 0 <= self.beta1 < 1, "in [0, 1)"),
            ("beta2", 0 <= self.beta2 < 1, "in [0, 1)"),
            ("grad_clip", self.grad_clip >= 0, ">= 0 (0 disables clipping)"),
            ("bias_gamma", self.bias_gamma >= 0, ">= 0 (0 disables the bias update)"),
            ("checkpoint_every", self.checkpoint_every >= 0, ">= 0 (0: only at the end)"),
            ("eval_every", self.eval_every >= 0, ">= 0 (0: never)"),
            ("eval_tasks", self.eval_tasks >= 1, ">= 1"),
            ("eval_temperature", self.eval_temperature >= 0, ">= 0 (0: greedy)"),
        ]


def locate_checkpoint(directory: str | Path) -> tuple[Path, str] | None:
    """`state.find_checkpoint` for every process of a run: process 0 recovers an interrupted save
    (it renames), then the others look."""
    found = find_checkpoint(directory) if is_leader() else None
    barrier()
    return found if is_leader() else find_checkpoint(directory)


FUSED_ADAMW_DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)


def make_optimizer(model: Transformer, config: RunConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; weight decay on matrices only (not norms, not biases).
    PyTorch's fused implementation (one kernel per parameter rather than a dozen ops; the default
    of transformers' Trainer and of TRL) where it has one: fp64/fp32/bf16/fp16 weights on a CPU or
    GPU."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype in FUSED_ADAMW_DTYPES for p in params)
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2), fused=fused)


class TrainingRun(abc.ABC):
    """A run in progress: the model, its AdamW, the step reached and every step's metrics.

    Attributes: model, config, optimizer, step (steps done), history (one metrics dict per step),
    out_dir (where checkpoints go; None keeps the run in memory), callback (called with each
    step's metrics), progress (show a tqdm bar), eval_tasks (the fixed held-out tasks).
    """

    config_class: ClassVar[type[RunConfig]] = RunConfig
    progress_keys: ClassVar[tuple[str, ...]] = ("loss",)  # metrics shown beside the progress bar

    def __init__(
        self,
        model: Transformer,
        config: RunConfig,
        *,
        out_dir: str | Path | None = None,
        callback: Callable[[Metrics], None] | None = None,
        progress: bool = True,
    ) -> None:
        if not isinstance(config, self.config_class):
            raise ValueError(
                f"config is a {type(config).__name__}; {type(self).__name__} needs a "
                f"{self.config_class.__name__}"
            )
        if model.config.vocab_size < VOCAB_SIZE:
            raise ValueError(
                f"model.config.vocab_size={model.config.vocab_size} must be >= the tokenizer's "
                f"VOCAB_SIZE={VOCAB_SIZE} (build the preset with vocab_size={VOCAB_SIZE} or more)"
            )
        self.model, self.config = model, config
        self.optimizer = make_optimizer(model, config)
        self.step = 0
        self.history: list[Metrics] = []
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.callback, self.progress = callback, progress
        self.eval_tasks = [  # held-out tasks a rule can check (a chat reply has no right answer)
            task
            for kind in config.kinds
            for task in generate_tasks(kind, config.eval_tasks, config.seed, "test", config.difficulty)
            if task.verifiable
        ]
        self._check_context()

    def sequence_length(self, task: Task) -> int:
        """The longest sequence a step or an evaluation builds from `task`: its prompt and at least
        one response token (trainers that read whole examples return more)."""
        return len(encode_prompt(task.prompt, self.config.template)) + 1

    def _check_context(self) -> None:
        """Refuse, before any step, settings whose tasks do not fit the model's context: the held-out
        tasks and a sample of the training tasks (`CONTEXT_SAMPLE` of step 0) at the run's kinds,
        difficulty and template."""
        c, context = self.config, self.model.config.max_seq_len
        train = sample_tasks(c.kinds, CONTEXT_SAMPLE, c.seed, 0, "train", c.difficulty)
        longest = max([*self.eval_tasks, *train], key=self.sequence_length)
        if self.sequence_length(longest) > context:
            raise ValueError(
                f"{type(self).__name__}: with template={c.template!r} and difficulty={c.difficulty} the "
                f"{longest.kind} task {longest.prompt!r} takes {self.sequence_length(longest)} tokens, "
                f"more than the model's context, max_seq_len={context}: lower the difficulty, choose a "
                "shorter template, or train a model with a longer context"
            )

    # ---- one step ------------------------------------------------------------------------------
    @abc.abstractmethod
    def train_step(self) -> Metrics:
        """Take optimizer step `self.step` and return its metrics (without "step")."""

    def optimizer_step(self, loss: torch.Tensor) -> Metrics:
        """Backward `loss`, clip the gradient norm, apply AdamW at this step's learning rate."""
        c = self.config
        lr = learning_rate(self.step, c.lr, c.warmup_steps, c.steps, c.final_lr_share)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        self._stop_unless_finite("loss", loss)
        loss.backward()
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        max_norm = c.grad_clip if c.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        self._stop_unless_finite("gradient norm", grad_norm)
        self.optimizer.step()
        return {"lr": lr, "grad_norm": float(grad_norm)}

    def _stop_unless_finite(self, name: str, value: torch.Tensor) -> None:
        """Raise `DivergedError` before a NaN or inf can reach the weights: the model stays as it
        was after the last good step, and the last checkpoint on disk is kept."""
        if not bool(torch.isfinite(value)):
            kept = self.out_dir / CHECKPOINT if self.out_dir is not None else None
            raise DivergedError(
                f"step {self.step + 1}: the {name} is {float(value)}, not finite; the run stopped before "
                "updating the model"
                + (f" and keeps its last checkpoint, {kept}" if kept is not None and kept.exists() else "")
                + " (a lower lr or a smaller grad_clip may help)"
            )

    def balance_experts(self) -> Metrics:
        """The bias update of V3 §2.1.2 from this step's expert loads (γ = 0 only measures them)."""
        if not self.model.moe_layers():
            return {}
        sum_expert_loads(self.model)  # data parallel: each expert's load over the global batch
        loads = self.model.update_biases(self.config.bias_gamma)  # [MoE layers (MTP included), E]
        ratio = loads.max(dim=1).values / loads.mean(dim=1).clamp(min=1)  # [MoE layers]
        return {"load_max_over_mean": [round(float(r), 6) for r in ratio]}

    def evaluate(self) -> Metrics:
        """Accuracy (pass@1), share of responses that reason, and mean response length (tokens) on
        the fixed held-out tasks, sampled as `config.eval_temperature` says."""
        c = self.config
        if not self.eval_tasks:
            raise ValueError(f"evaluate: none of kinds={list(c.kinds)} has held-out tasks a rule can check")
        greedy = c.eval_temperature == 0
        longest = max(len(encode_prompt(task.prompt, c.template)) for task in self.eval_tasks)
        rows = evaluate_model(
            self.model,
            self.eval_tasks,
            k=1,
            template=c.template,
            temperature=c.eval_temperature,
            top_p=None if greedy else 0.95,
            max_new_tokens=min(c.max_new_tokens, self.model.config.max_seq_len - longest),  # fits the context
            seed=c.seed,
            progress=False,
        )
        summary = summarize(rows)
        return {
            "eval_accuracy": summary["pass@1"],
            "eval_reasoning_share": summary["reasoning_share"],
            "eval_length": summary["mean_length"],
        }

    # ---- the loop ------------------------------------------------------------------------------
    def run(self, steps: int | None = None) -> list[Metrics]:
        """Take `steps` more steps (default: all that remain of `config.steps`); return the history."""
        c = self.config
        end = c.steps if steps is None else min(c.steps, self.step + steps)
        bar = tqdm(total=c.steps, initial=self.step, desc=type(self).__name__, disable=not self.progress)
        with bar:
            while self.step < end:
                self.model.train()
                metrics = {"step": self.step + 1, **reduce_metrics(self.train_step())}
                self.step += 1
                if c.eval_every and (self.step % c.eval_every == 0 or self.step == c.steps):
                    metrics.update(self.evaluate())
                self.history.append(metrics)
                if self.callback is not None:
                    self.callback(metrics)
                bar.set_postfix({k: metrics[k] for k in self.progress_keys if k in metrics}, refresh=False)
                bar.update(1)
                periodic = c.checkpoint_every and self.step % c.checkpoint_every == 0
                if self.out_dir is not None and (periodic or self.step == c.steps):
                    self.save()
        return self.history

    # ---- checkpoints ---------------------------------------------------------------------------
    def frozen_models(self) -> dict[str, Transformer]:
        """Models the run keeps but does not train, saved beside it (GRPO's reference model); each
        comes back from `resume` as the keyword argument of the same name."""
        return {}

    def save(self, directory: str | Path | None = None) -> Path:
        """Write the run's checkpoint (atomically) to `directory`, default `out_dir/checkpoint`."""
        if directory is None:
            if self.out_dir is None:
                raise ValueError("save: directory=None and the run has no out_dir; name a directory")
            directory = self.out_dir / CHECKPOINT
        frozen = self.frozen_models()
        extra = {
            "trainer": type(self).__name__,
            "config": dataclasses.asdict(self.config),
            "frozen": list(frozen),
            "history": self.history,
        }
        if is_leader():  # data parallel: every process holds the same state; one writes it
            save_training_state(directory, self.model, self.optimizer, self.step, extra, frozen=frozen)
        barrier()
        return Path(directory)

    @classmethod
    def resume(
        cls,
        directory: str | Path,
        *,
        out_dir: str | Path | None = None,
        callback: Callable[[Metrics], None] | None = None,
        progress: bool = True,
        **data: Any,
    ) -> TrainingRun:
        """Rebuild a run from its checkpoint `directory` to continue exactly where it stopped.

        out_dir defaults to the checkpoint's parent; `data` passes again whatever data source the
        run was built with (e.g. `batches=` or `prompts=`), which a checkpoint cannot hold. A save
        that a crash interrupted is recovered first (`state.find_checkpoint`).
        """
        directory = Path(directory)
        if locate_checkpoint(directory) is None:
            raise FileNotFoundError(f"{directory} holds no checkpoint to resume")
        state = read_state(directory)
        if state.get("trainer") != cls.__name__:
            raise ValueError(
                f"resume: {directory} is a checkpoint of {state.get('trainer')!r}, not of {cls.__name__}"
            )
        config = cls.config_class(**state["config"])
        frozen = {name: load_frozen(directory, name) for name in state["frozen"]}
        # last, because it restores the RNGs (building a model draws from them)
        model, optimizer, _ = load_training_state(directory, lambda m: make_optimizer(m, config))
        run = cls(
            model,
            config,
            out_dir=directory.parent if out_dir is None else out_dir,
            callback=callback,
            progress=progress,
            **frozen,
            **data,
        )
        run.optimizer, run.step, run.history = optimizer, state["step"], state["history"]
        return run
