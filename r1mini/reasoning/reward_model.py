"""A small learned reward model: what R1-Zero chose *not* to use (R1 paper §2.2.2), and what R1's
last stage uses for prompts no rule can judge (§2.3.4).

R1-Zero is trained on rule-based rewards only. The paper explains why it does not apply "the outcome
or process neural reward model": such a model "may suffer from reward hacking in the large-scale
reinforcement learning process, and retraining the reward model needs additional training
resources and it complicates the whole training pipeline" (§2.2.2).

An *outcome* reward model is a network trained to predict, from a response alone, whether it is
right (DeepSeekMath §4.1 trains GRPO on one). It learns whatever in its training responses goes
with being right, which is not necessarily what *makes* a response right, and a policy optimised
against it is rewarded for anything it scores highly. This module builds the smallest such model
for our tasks, so that a notebook can put it next to the rule and find where they disagree:

* ``token_counts``: a response as a bag of tokens, [N, VOCAB_SIZE] (order is lost: a deliberately
  weak reader, far smaller than the language-model-sized reward models used in practice);
* ``RewardModel``: a two-layer perceptron from those counts to the logit of "right";
* ``fit_reward_model``: trains it with binary cross-entropy on responses labelled by a rule.

For helpfulness there is no rule to label with, only preferences: of two replies, people say which
is better. ``fit_preference_model`` trains the same network on such pairs with the Bradley-Terry
loss, ``-log σ(r(chosen) − r(rejected))`` (``preference_loss``), the usual objective of reward models
for RLHF, and centres its scores so that the mean reply it was trained on scores 0 (0.5 after the
sigmoid of ``score``). ``save_reward_model`` / ``load_reward_model`` keep it as safetensors + JSON.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from r1mini.reasoning.task import Task
from r1mini.reasoning.tokenizer import VOCAB_SIZE, encode


def token_counts(responses: Sequence[str]) -> torch.Tensor:
    """How often each token of the vocabulary occurs in each response: [N, VOCAB_SIZE] float32."""
    counts = torch.zeros(len(responses), VOCAB_SIZE)  # [N, V]
    for row, response in enumerate(responses):
        ids = torch.tensor(encode(response), dtype=torch.long)  # [T]
        counts[row].index_add_(0, ids, torch.ones(len(ids)))
    return counts


class RewardModel(nn.Module):
    """An outcome reward model over bags of tokens: counts [N, V] -> logit of "right" [N].

    ``log1p`` of the counts, then Linear(V, hidden), ReLU, Linear(hidden, 1). With ``with_prompt``,
    the prompt's counts are read too, beside the response's ([N, 2V]): a reward model for
    preferences sees the question it is judging an answer to.
    """

    def __init__(self, hidden: int = 32, with_prompt: bool = False) -> None:
        super().__init__()
        if hidden < 1:
            raise ValueError(f"hidden={hidden} must be at least 1 (width of the hidden layer)")
        self.with_prompt = with_prompt
        inputs = VOCAB_SIZE * (2 if with_prompt else 1)
        self.net = nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        return self.net(counts.log1p())[:, 0]  # [N, V] (or [N, 2V]) -> [N]

    def features(self, responses: Sequence[str], prompts: Sequence[str] | None = None) -> torch.Tensor:
        """What the model reads: the responses' token counts, then the prompts' if `with_prompt`."""
        if not self.with_prompt:
            return token_counts(responses)  # [N, V]
        if prompts is None or len(prompts) != len(responses):
            raise ValueError("this reward model reads the prompts too: give one prompt per response")
        return torch.cat([token_counts(responses), token_counts(prompts)], dim=1)  # [N, 2V]

    @torch.no_grad()
    def score(self, responses: Sequence[str], prompts: Sequence[str] | None = None) -> torch.Tensor:
        """The model's reward for each response, its probability of being right (or, for a
        preference model, of being preferred to an average response): [N] in (0, 1)."""
        return torch.sigmoid(self(self.features(responses, prompts)))


def fit_reward_model(
    responses: Sequence[str],
    labels: Sequence[float],
    *,
    hidden: int = 32,
    steps: int = 300,
    lr: float = 1e-2,
    weight_decay: float = 1e-3,
    seed: int = 0,
) -> RewardModel:
    """Train a ``RewardModel`` to predict ``labels`` (1 right, 0 wrong) from ``responses``.

    Full-batch AdamW on the binary cross-entropy, ``steps`` steps; ``seed`` fixes the initial
    weights (without touching the global RNG), so the same data give the same model.
    """
    if len(responses) != len(labels):
        raise ValueError(
            f"responses has {len(responses)} items and labels {len(labels)}; give one label per response"
        )
    if not responses:
        raise ValueError("responses is empty; a reward model needs labelled responses to learn from")
    if steps < 1:
        raise ValueError(f"steps={steps} must be at least 1")
    targets = torch.tensor([float(label) for label in labels])  # [N]
    if ((targets != 0) & (targets != 1)).any():
        raise ValueError("labels must each be 0 (wrong) or 1 (right)")
    counts = token_counts(responses)  # [N, V]
    with torch.random.fork_rng(devices=[]):  # seeded weights, the caller's RNG left as it was
        torch.manual_seed(seed)
        model = RewardModel(hidden)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        loss = nn.functional.binary_cross_entropy_with_logits(model(counts), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


def rank_pairs(
    samples: Sequence[tuple[Task, str]], rate: Callable[[Task, str], float]
) -> list[tuple[Task, str, str]]:
    """Preference pairs as people would give them: (task, preferred, other) for every two distinct
    responses to the same prompt among `samples` ((task, response) pairs) that `rate` scores
    differently, in the order they first appear."""
    by_prompt: dict[str, list[tuple[Task, str]]] = {}
    for task, response in samples:
        by_prompt.setdefault(task.prompt, []).append((task, response))
    pairs = []
    for group in by_prompt.values():
        task = group[0][0]
        distinct = list(dict.fromkeys(response for _, response in group))
        for a, b in itertools.combinations(distinct, 2):
            score_a, score_b = rate(task, a), rate(task, b)
            if score_a != score_b:
                pairs.append((task, a, b) if score_a > score_b else (task, b, a))
    return pairs


def preference_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Bradley-Terry loss of scores [N] for the preferred and the other response of N pairs:
    mean of ``-log σ(chosen − rejected)`` (DPO's loss is this, on its implicit rewards)."""
    return -F.logsigmoid(chosen - rejected).mean()


def fit_preference_model(
    chosen: Sequence[str],
    rejected: Sequence[str],
    prompts: Sequence[str] | None = None,
    *,
    hidden: int = 32,
    steps: int = 300,
    lr: float = 1e-2,
    weight_decay: float = 1e-3,
    seed: int = 0,
) -> RewardModel:
    """Train a ``RewardModel`` so that ``chosen[i]`` scores above ``rejected[i]`` (Bradley-Terry,
    full-batch AdamW, ``steps`` steps, weights seeded by ``seed``), reading ``prompts[i]`` beside
    each if given, then centre it: the output bias is shifted so that the mean logit over all the
    training responses is 0."""
    if len(chosen) != len(rejected) or (prompts is not None and len(prompts) != len(chosen)):
        raise ValueError(
            f"chosen has {len(chosen)} responses, rejected {len(rejected)}"
            + ("" if prompts is None else f", prompts {len(prompts)}")
            + "; give one of each per pair"
        )
    if not chosen:
        raise ValueError("chosen is empty; a preference model needs pairs to learn from")
    if steps < 1:
        raise ValueError(f"steps={steps} must be at least 1")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RewardModel(hidden, with_prompt=prompts is not None)
    better, worse = model.features(chosen, prompts), model.features(rejected, prompts)  # [N, V or 2V]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        loss = preference_loss(model(better), model(worse))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        model.net[-1].bias -= torch.cat([model(better), model(worse)]).mean()
    return model.eval()


def save_reward_model(model: RewardModel, directory: str | Path) -> None:
    """Write `model` to `directory` as `reward_model.safetensors` and `reward_model.json`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, directory / "reward_model.safetensors"
    )
    config = {"hidden": model.net[0].out_features, "with_prompt": model.with_prompt}
    (directory / "reward_model.json").write_text(json.dumps(config))


def load_reward_model(directory: str | Path) -> RewardModel:
    """The reward model `save_reward_model` wrote to `directory` (no pickle: safetensors + JSON)."""
    directory = Path(directory)
    config = json.loads((directory / "reward_model.json").read_text())
    model = RewardModel(config["hidden"], with_prompt=config["with_prompt"])
    model.load_state_dict(load_file(directory / "reward_model.safetensors"))
    return model.eval()
