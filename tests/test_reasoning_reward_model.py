"""r1mini.reasoning.reward_model: token counts, a seeded fit that learns what its labels go with,
and the bag-of-tokens blindness that lets it be fooled (R1 paper §2.2.2)."""

from __future__ import annotations

import pytest
import torch

from r1mini.reasoning import VOCAB_SIZE, encode
from r1mini.reasoning.reward_model import RewardModel, fit_reward_model, token_counts
from r1mini.reasoning.tokenizer import TOKEN_TO_ID

REASONS = [
    "<think>\n4+5=9 c0\n</think>\n<answer>9</answer>",
    "<think>\n7-3=4 b0\n</think>\n<answer>4</answer>",
]
DIRECT = ["<think>\n\n</think>\n<answer>9</answer>", "<think>\n\n</think>\n<answer>4</answer>"]


def test_token_counts_count_each_token_once_per_occurrence():
    counts = token_counts(["<think>\n11\n</think>", ""])
    assert counts.shape == (2, VOCAB_SIZE) and counts.dtype == torch.float32
    assert counts[0, TOKEN_TO_ID["<think>"]] == 1 and counts[0, TOKEN_TO_ID["1"]] == 2
    assert counts[0, TOKEN_TO_ID["\n"]] == 2
    assert counts[0].sum() == len(encode("<think>\n11\n</think>"))
    assert counts[1].sum() == 0


def test_fit_learns_what_the_labels_go_with():
    responses = (REASONS + DIRECT) * 4
    labels = ([1.0] * len(REASONS) + [0.0] * len(DIRECT)) * 4
    model = fit_reward_model(responses, labels, steps=200)
    scores = model.score(REASONS + DIRECT)  # [4]
    assert scores.shape == (4,)
    assert (scores[:2] > 0.9).all() and (scores[2:] < 0.1).all()
    assert not model.training


def test_fit_is_seeded_and_leaves_the_global_rng_alone():
    labels = [1.0, 1.0, 0.0, 0.0]
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    first = fit_reward_model(REASONS + DIRECT, labels, steps=20, seed=7)
    assert torch.equal(torch.rand(3), expected_draw)
    second = fit_reward_model(REASONS + DIRECT, labels, steps=20, seed=7)
    other = fit_reward_model(REASONS + DIRECT, labels, steps=20, seed=8)
    probe = ["<think>\n1+1=2 c0\n</think>\n<answer>2</answer>"]
    assert torch.equal(first.score(probe), second.score(probe))
    assert not torch.equal(first.score(probe), other.score(probe))


def test_order_is_invisible_to_a_bag_of_tokens():
    model = RewardModel(hidden=8)
    right, reordered = "<answer>12</answer>", "<answer>21</answer>"
    assert torch.equal(model.score([right]), model.score([reordered]))


@pytest.mark.parametrize(
    ("responses", "labels", "changes", "match"),
    [
        (REASONS, [1.0], {}, "one label per response"),
        ([], [], {}, "empty"),
        (REASONS, [1.0, 0.5], {}, "0 .wrong. or 1"),
        (REASONS, [1.0, 0.0], {"steps": 0}, "steps=0"),
        (REASONS, [1.0, 0.0], {"hidden": 0}, "hidden=0"),
    ],
)
def test_fit_rejects_bad_arguments(responses, labels, changes, match):
    with pytest.raises(ValueError, match=match):
        fit_reward_model(responses, labels, **changes)
