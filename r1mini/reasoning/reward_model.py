"""A small learned reward model: what R1-Zero chose *not* to use (R1 paper §2.2.2).

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
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

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

    ``log1p`` of the counts, then Linear(V, hidden), ReLU, Linear(hidden, 1).
    """

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        if hidden < 1:
            raise ValueError(f"hidden={hidden} must be at least 1 (width of the hidden layer)")
        self.net = nn.Sequential(nn.Linear(VOCAB_SIZE, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        return self.net(counts.log1p())[:, 0]  # [N, V] -> [N]

    @torch.no_grad()
    def score(self, responses: Sequence[str]) -> torch.Tensor:
        """The model's reward for each response, its probability of being right: [N] in (0, 1)."""
        return torch.sigmoid(self(token_counts(responses)))


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
