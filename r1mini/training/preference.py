"""Preference data and the learned reward of R1's last stage (R1 §2.3.4).

For prompts no rule can judge, R1's "RL for all scenarios" uses reward models "to capture human
preferences in complex and nuanced scenarios", built, as for DeepSeek-V3, from preference data. In
miniature (`reasoning.formatting`): a model answers training prompts of a non-verifiable kind
several times (`ranked_pairs`), a hidden rater (`reasoning.dataset.RATERS`, the stand-in for people)
ranks every two different replies to the same prompt, and a small reward model is fitted to the
pairs (`fit_reward`, Bradley-Terry, reading each reply's answer beside its prompt). The same pairs
serve DPO (`training.dpo`), the usual third step of an LLM recipe.
"""

from __future__ import annotations

from dataclasses import dataclass

from r1mini.model import Transformer
from r1mini.reasoning.dataset import RATERS
from r1mini.reasoning.generate import generate_text
from r1mini.reasoning.reward_model import RewardModel, fit_preference_model, rank_pairs
from r1mini.reasoning.task import Task
from r1mini.reasoning.template import parse_response
from r1mini.training.data import TaskConfig, sample_tasks

Pair = tuple[Task, str, str]  # (task, preferred response, the other)


@dataclass
class PreferenceConfig(TaskConfig):
    """Preference data and its reward model: `TaskConfig`'s fields (kinds must have a rater), plus

    Attributes:
        prompts: training prompts to answer; samples_per_prompt: replies to each, at `temperature`.
        hidden, steps, lr: the reward model's hidden width, full-batch steps and learning rate.
    """

    kinds: tuple[str, ...] = ("format",)
    max_new_tokens: int = 24
    prompts: int = 64
    samples_per_prompt: int = 4
    temperature: float = 1.0
    hidden: int = 32
    steps: int = 300
    lr: float = 1e-2

    def rules(self) -> list[tuple[str, bool, str]]:
        return [
            *super().rules(),
            ("kinds", set(self.kinds) <= set(RATERS), f"kinds with a rater: {sorted(RATERS)}"),
            ("prompts", self.prompts >= 1, ">= 1"),
            ("samples_per_prompt", self.samples_per_prompt >= 2, ">= 2 (a pair needs two replies)"),
            ("temperature", self.temperature > 0, "> 0 (greedy replies to a prompt are all alike)"),
            ("hidden", self.hidden >= 1, ">= 1"),
            ("steps", self.steps >= 1, ">= 1"),
            ("lr", self.lr > 0, "> 0"),
        ]

    def tasks(self) -> list[Task]:
        """The training prompts, drawn by `sample_tasks` (seed, step 0)."""
        return sample_tasks(self.kinds, self.prompts, self.seed, 0, "train", self.difficulty)


def ranked_pairs(model: Transformer, config: PreferenceConfig) -> tuple[list[Pair], list[tuple[Task, str]]]:
    """`model`'s replies to `config.tasks()` (`samples_per_prompt` each, seeded), and the pairs the
    rater of each kind ranks among them (`rank_pairs`)."""
    owners = [task for task in config.tasks() for _ in range(config.samples_per_prompt)]
    replies = generate_text(
        model,
        [task.prompt for task in owners],
        config.max_new_tokens,
        template=config.template,
        temperature=config.temperature,
        seed=config.seed,
    )
    samples = list(zip(owners, replies, strict=True))
    pairs = [
        pair
        for kind in config.kinds
        for pair in rank_pairs([s for s in samples if s[0].kind == kind], RATERS[kind])
    ]
    return pairs, samples


def fit_reward(pairs: list[Pair], config: PreferenceConfig) -> RewardModel:
    """A reward model fitted to `pairs`: each reply's `<answer>` block (R1 judges helpfulness on the
    final summary) beside its prompt, preferred above the other (`fit_preference_model`)."""

    def answer(response: str) -> str:
        return parse_response(response).answer or ""

    return fit_preference_model(
        [answer(chosen) for _, chosen, _ in pairs],
        [answer(other) for _, _, other in pairs],
        [task.prompt for task, _, _ in pairs],
        hidden=config.hidden,
        steps=config.steps,
        lr=config.lr,
        seed=config.seed,
    )
