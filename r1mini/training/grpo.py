"""Group Relative Policy Optimization: the RL of R1-Zero and R1 (R1 paper §2.2.1; DeepSeekMath §4.1).

One GRPO step, as `GRPOTrainer.train_step` takes it:

1. Sample P questions and G responses to each from the current policy π_old (temperature 1).
2. Score every response with the rule-based rewards (accuracy + format, R1 §2.2.2; + language
   consistency for R1, §2.3.2); in R1's last stage (§2.3.4), a prompt no rule can judge (a
   non-verifiable task) is scored by a learned reward model instead (`preference`).
3. Advantages relative to each group: Â_i = (r_i − mean r) / std r (`advantages.py`, eq. 3).
4. Log-probabilities of the sampled tokens under π_old and under the frozen reference π_ref.
5. μ gradient steps on the clipped, KL-regularised loss (`grpo_loss.py`, eq. 1-2), each against
   the same π_old, so the ratio ρ = π_θ/π_old moves away from 1 only after the first.

Log-probabilities are those of the distribution the sampler drew from: the tokenizer's vocabulary
only (the mini model's head has spare rows) and the logits divided by the sampling temperature.
The reference model starts as a copy of the initial policy; `ref_refresh_every` copies the policy
into it every so many steps (an option TRL offers too) so the KL anchors a recent policy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from r1mini.model import Transformer
from r1mini.parallel.data import data_parallel, global_max, global_share, local_rows
from r1mini.reasoning.dataset import generate_tasks
from r1mini.reasoning.evaluate import score_sample
from r1mini.reasoning.generate import Generation, generate, generate_text
from r1mini.reasoning.reward_model import RewardModel
from r1mini.reasoning.rewards import R1_ZERO_WEIGHTS, preference_rewards, scenario_rewards
from r1mini.reasoning.task import Task
from r1mini.reasoning.template import decode_response, encode_prompt
from r1mini.reasoning.tokenizer import PAD_ID, VOCAB_SIZE
from r1mini.training.advantages import SCALES, group_advantages
from r1mini.training.data import sample_tasks, step_seed
from r1mini.training.grpo_loss import LOSS_TYPES, grpo_loss, sequence_logprobs
from r1mini.training.loop import Metrics, RunConfig, TrainingRun


@dataclass
class GRPOConfig(RunConfig):
    """GRPO: `RunConfig`'s fields with RL defaults for the mini model (a short warmup, against
    Adam's first steps, which move every weight by about lr whatever its gradient; then a constant
    lr; no bias update: routing stays as the base left it), plus:

    Attributes:
        prompts_per_step: questions P per step; group_size: responses G per question.
        temperature, top_p: sampling of the responses (R1-Zero: temperature 1, no top-p).
        updates_per_batch: μ, gradient steps on each sampled batch (DeepSeekMath Alg. 1).
        clip_eps, clip_eps_high: ε of the PPO clip, and DAPO's ε_high (None: = clip_eps).
        beta: β, weight of the KL to the reference model (0: no reference model at all).
        loss_type: aggregation of the per-token loss ("grpo", "bnpo", "dr_grpo", "dapo").
        advantage_scale: "std" (GRPO) or "none" (Dr. GRPO).
        ref_refresh_every: copy the policy into the reference model every this many steps (0: never).
        reward_weights: weights of the rewards summed (R1_ZERO_WEIGHTS or R1_WEIGHTS).
    """

    steps: int = 100
    lr: float = 2e-4
    warmup_steps: int = 5
    final_lr_share: float = 1.0
    weight_decay: float = 0.0
    bias_gamma: float = 0.0
    prompts_per_step: int = 8
    group_size: int = 8
    temperature: float = 1.0
    top_p: float | None = None
    updates_per_batch: int = 1
    clip_eps: float = 0.2
    clip_eps_high: float | None = None
    beta: float = 0.04
    loss_type: str = "grpo"
    advantage_scale: str = "std"
    ref_refresh_every: int = 0
    reward_weights: dict[str, float] = field(default_factory=lambda: dict(R1_ZERO_WEIGHTS))

    def rules(self) -> list[tuple[str, bool, str]]:
        return [
            *super().rules(),
            ("prompts_per_step", self.prompts_per_step >= 1, ">= 1"),
            ("group_size", self.group_size >= 2, ">= 2 (a group needs responses to compare)"),
            ("temperature", self.temperature > 0, "> 0 (GRPO samples; greedy groups are all alike)"),
            ("top_p", self.top_p is None or 0 < self.top_p <= 1, "None or in (0, 1]"),
            ("updates_per_batch", self.updates_per_batch >= 1, ">= 1"),
            ("clip_eps", 0 <= self.clip_eps <= 1, "in [0, 1]"),
            ("clip_eps_high", self.clip_eps_high is None or self.clip_eps_high >= 0, "None or >= 0"),
            ("beta", self.beta >= 0, ">= 0"),
            ("loss_type", self.loss_type in LOSS_TYPES, f"one of {LOSS_TYPES}"),
            ("advantage_scale", self.advantage_scale in SCALES, f"one of {SCALES}"),
            ("ref_refresh_every", self.ref_refresh_every >= 0, ">= 0 (0: never)"),
            ("reward_weights", bool(self.reward_weights), "a non-empty dict of reward name -> weight"),
        ]


@dataclass(frozen=True)
class Rollout:
    """One step's sampled responses, scored. tokens: [B, T] prompt + response (B = P·G, left-padded
    prompts); attention: [B, T] False on the prompts' left padding; response: [B, T] True on
    the sampled tokens (`<eos>` included); advantages: [B]."""

    tokens: torch.Tensor
    attention: torch.Tensor
    response: torch.Tensor
    advantages: torch.Tensor
    metrics: Metrics


class GRPOTrainer(TrainingRun):
    """GRPO on `model` (see the module docstring). `prompts(step) -> list[Task]` supplies each
    step's P questions; by default a mix of `config.kinds` training tasks (`data.sample_tasks`).
    `reference` is the frozen π_ref (default: a copy of `model` now; none when beta = 0).
    `preference` is the learned reward model that scores non-verifiable tasks (R1 §2.3.4); each
    step then also reports `reward_rule` (the mean rule reward of the verifiable prompts' responses)
    and `reward_preference` (the mean learned reward of the others'), for the kinds it sampled, and
    each evaluation `eval_preference`, the mean learned reward of greedy replies to the held-out
    non-verifiable tasks of `config.kinds`.
    """

    config_class = GRPOConfig
    progress_keys: ClassVar[tuple[str, ...]] = ("reward", "accuracy", "response_length")

    def __init__(
        self,
        model: Transformer,
        config: GRPOConfig,
        *,
        prompts: Callable[[int], list[Task]] | None = None,
        reference: Transformer | None = None,
        preference: RewardModel | None = None,
        out_dir: str | Path | None = None,
        callback: Callable[[Metrics], None] | None = None,
        progress: bool = True,
    ) -> None:
        super().__init__(model, config, out_dir=out_dir, callback=callback, progress=progress)
        self.preference = preference
        self.open_eval_tasks = [  # held-out tasks only the preference model can judge
            task
            for kind in config.kinds
            for task in generate_tasks(kind, config.eval_tasks, config.seed, "test", config.difficulty)
            if not task.verifiable
        ]
        local_rows(config.prompts_per_step, "prompts_per_step")  # data parallel: whole prompts each
        self.policy_forward = data_parallel(
            self.model, lambda rollout: self.policy_logprobs(self.model, rollout)
        )
        self.prompts = prompts or (
            lambda step: sample_tasks(
                config.kinds, config.prompts_per_step, config.seed, step, "train", config.difficulty
            )
        )
        self.reference = None
        if config.beta > 0:
            self.reference = model.clone() if reference is None else reference
            self.reference.requires_grad_(False).eval()

    def frozen_models(self) -> dict[str, Transformer]:
        return {} if self.reference is None else {"reference": self.reference}

    def evaluate(self) -> Metrics:
        """`TrainingRun.evaluate` on the verifiable held-out tasks, and with a preference model,
        `eval_preference`: its mean reward for greedy replies to the non-verifiable ones."""
        metrics = super().evaluate() if self.eval_tasks else {}
        if self.preference is not None and self.open_eval_tasks:
            tasks = self.open_eval_tasks
            replies = generate_text(
                self.model,
                [t.prompt for t in tasks],
                self.config.max_new_tokens,
                template=self.config.template,
                temperature=0.0,
            )
            scores = preference_rewards(replies, self.preference, [t.prompt for t in tasks])
            metrics["eval_preference"] = sum(r.value for r in scores) / len(scores)
        return metrics

    def policy_logprobs(self, model: Transformer, rollout: Rollout) -> tuple[torch.Tensor, torch.Tensor]:
        """log π(token t+1 | tokens ≤ t) of `model` as the sampler saw it, [B, T-1], and its logits."""
        logits = model(rollout.tokens, attention_mask=rollout.attention, use_cache=False)  # no decoding after
        logits = logits[..., :VOCAB_SIZE]  # [B, T, V']
        logits = logits / self.config.temperature
        return sequence_logprobs(logits, rollout.tokens), logits

    @torch.no_grad()
    def sample(self, tasks: list[Task], first: int = 0, pad_to: int = 0) -> Rollout:
        """Steps 1-3: G responses per task from the policy, their rewards and group advantages.
        Task i's responses are drawn from a generator seeded by (seed, step, first + i), with the
        prompts left-padded to `pad_to`: the same samples whichever process, and whichever other
        prompts, they are drawn with."""
        c = self.config
        group = c.group_size
        prompts = [encode_prompt(task.prompt, c.template) for task in tasks for _ in range(group)]
        seeds = [step_seed(c.seed, self.step, first + i) for i in range(len(tasks)) for _ in range(group)]
        budget = min(c.max_new_tokens, self.model.config.max_seq_len - max(pad_to, *map(len, prompts)))
        gen: Generation = generate(
            self.model,
            prompts,
            budget,
            temperature=c.temperature,
            top_p=c.top_p,
            vocab_limit=VOCAB_SIZE,
            seed=seeds,
            pad_to=pad_to,
        )
        texts = [decode_response(ids, c.template) for ids in gen.generated]
        owners = [task for task in tasks for _ in range(group)]
        rewards = scenario_rewards(texts, owners, c.reward_weights, self.preference)
        records = [score_sample(task, text) for text, task in zip(texts, owners, strict=True)]
        totals = torch.tensor([reward.total for reward in rewards])  # [B]

        prompt_len = max(pad_to, *gen.prompt_lengths)  # where the responses start in gen.tokens
        length = prompt_len + global_max(int(gen.lengths.max()))  # as wide as the global batch
        positions = torch.arange(length, device=gen.tokens.device)  # [T]
        starts = torch.tensor([prompt_len - n for n in gen.prompt_lengths], device=positions.device)
        response = (positions >= prompt_len) & (positions < prompt_len + gen.lengths[:, None])  # [B, T]
        ruled = [i for i, task in enumerate(owners) if task.verifiable]
        learned = [i for i, task in enumerate(owners) if not task.verifiable]

        def mean(values: list[float]) -> float:
            return sum(values) / len(values)

        metrics = {
            "reward": totals.mean().item(),
            **{
                f"reward_{name}": mean([rewards[i].parts[name].value for i in ruled])
                for name in (rewards[ruled[0]].parts if ruled else {})
            },
            "accuracy": mean([records[i].correct for i in ruled]) if ruled else 0.0,
            "reasoning_share": mean([r.reasons for r in records]),
            "response_length": mean([r.n_tokens for r in records]),
        }
        if self.preference is not None:  # R1's last stage: both kinds of reward, apart
            if ruled:
                metrics["reward_rule"] = mean([rewards[i].total for i in ruled])
            if learned:
                metrics["reward_preference"] = mean([rewards[i].total for i in learned])
        return Rollout(
            tokens=gen.tokens[:, :length].contiguous(),  # one layout, whatever the width (torch.compile)
            attention=positions >= starts[:, None],  # [B, T]
            response=response,
            advantages=group_advantages(totals, group, c.advantage_scale).to(positions.device),
            metrics=metrics,
        )

    def train_step(self) -> Metrics:
        c = self.config
        start = time.perf_counter()
        tasks = self.prompts(self.step)
        mine = local_rows(len(tasks), "prompts_per_step")  # data parallel: this process's prompts
        longest = max(len(encode_prompt(task.prompt, c.template)) for task in tasks)  # the global batch's
        rollout = self.sample(tasks[mine], first=mine.start, pad_to=longest)  # steps 1-3
        mask = rollout.response[:, 1:]  # [B, T-1]: log-prob t predicts token t+1
        with torch.no_grad():  # step 4; eval mode: these passes don't count towards expert loads
            self.model.eval()
            old_logp = self.policy_logprobs(self.model, rollout)[0] if c.updates_per_batch > 1 else None
            ref_logp = None if self.reference is None else self.policy_logprobs(self.reference, rollout)[0]
            self.model.train()

        updates: list[Metrics] = []
        for _ in range(c.updates_per_batch):  # step 5
            logp, logits = self.policy_forward(rollout)  # [B, T-1], [B, T, V']
            loss, stats = grpo_loss(
                logp,
                logp if old_logp is None else old_logp,
                ref_logp,
                rollout.advantages,
                mask,
                clip_eps=c.clip_eps,
                clip_eps_high=c.clip_eps_high,
                beta=c.beta,
                loss_type=c.loss_type,
                max_completion_length=c.max_new_tokens,
            )
            if c.loss_type in ("bnpo", "dapo"):  # a token mean over the global batch
                loss = loss * global_share(mask.sum())
            with torch.no_grad():
                logq = logits[:, :-1].float().log_softmax(dim=-1)  # [B, T-1, V']
                entropy = -(logq.exp() * logq).sum(dim=-1)  # [B, T-1]
                stats["entropy"] = ((entropy * mask).sum() / mask.sum().clamp(min=1)).item()
            stats["clip_frac"] = stats.pop("clip_frac_low") + stats.pop("clip_frac_high")
            updates.append({"loss": loss.item(), **stats, **self.optimizer_step(loss)})
        metrics = {**rollout.metrics, **{k: sum(u[k] for u in updates) / len(updates) for k in updates[0]}}
        metrics.update(self.balance_experts())
        metrics["tokens"] = int((rollout.tokens != PAD_ID).sum())  # prompts + responses, as SFT counts
        metrics["generated_tokens"] = int(rollout.response.sum())

        if self.reference is not None and c.ref_refresh_every and (self.step + 1) % c.ref_refresh_every == 0:
            self.reference.load_state_dict(self.model.state_dict())
        metrics["steps_per_min"] = 60 / (time.perf_counter() - start)
        return metrics
