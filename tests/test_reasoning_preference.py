"""The non-reasoning formatting family, its hidden rater, preference pairs, the Bradley-Terry reward
model and the mixed rewards of R1's last stage, against hand-computed values."""

from __future__ import annotations

import math
import random

import pytest
import torch

from r1mini.reasoning import R1_WEIGHTS, combined_reward, generate_tasks, render_completion
from r1mini.reasoning.formatting import (
    KIND,
    NO_RULE,
    STYLES,
    make_format,
    number_of,
    rate_reply,
    style_of,
)
from r1mini.reasoning.reward_model import (
    fit_preference_model,
    load_reward_model,
    preference_loss,
    rank_pairs,
    save_reward_model,
)
from r1mini.reasoning.rewards import preference_rewards, scenario_rewards


def reply(answer: str) -> str:
    return render_completion("", answer)


def test_the_formatting_family():
    task = make_format(random.Random(3), 4)
    n = number_of(task)
    assert task.kind == KIND and task.prompt == f"write {n} for a reader" and 1000 <= n <= 9999
    assert not task.verifiable and task.thinking == "" and task.verify(str(n)) == NO_RULE
    assert task.answer in {write(n) for write in STYLES.values()}
    assert STYLES["grouped"](4781) == "4 781" and STYLES["spaced"](4781) == "4 7 8 1"
    assert STYLES["grouped"](47812) == "47 812"
    held_out = generate_tasks(KIND, 20, seed=0, split="test")
    assert all(t.split == "test" and not t.verifiable for t in held_out)
    with pytest.raises(ValueError, match="not a 'format' task"):
        number_of(generate_tasks("arithmetic", 1)[0])


def test_the_hidden_rater_by_hand():
    task = make_format(random.Random(0), 4)
    n = number_of(task)
    assert rate_reply(task, reply(STYLES["grouped"](n))) == 2.0
    assert rate_reply(task, reply(str(n))) == 1.0
    assert rate_reply(task, reply(STYLES["spaced"](n))) == 0.5
    assert rate_reply(task, reply(STYLES["grouped"](n + 1))) == 0.0  # the wrong number, nicely written
    assert rate_reply(task, "no tags at all") == -1.0
    assert style_of(task, None) == "none" and style_of(task, "12") == "other"


def test_rank_pairs_by_hand():
    task = make_format(random.Random(0), 4)
    n = number_of(task)
    grouped, plain, wrong = reply(STYLES["grouped"](n)), reply(str(n)), reply(str(n + 1))
    other = make_format(random.Random(1), 4)
    samples = [(task, plain), (task, grouped), (task, plain), (task, wrong), (other, reply("1"))]
    pairs = rank_pairs(samples, rate_reply)
    # distinct replies to `task`: plain (1), grouped (2), wrong (0); `other` has one reply, no pair
    assert pairs == [(task, grouped, plain), (task, plain, wrong), (task, grouped, wrong)]


def test_preference_loss_by_hand():
    chosen, rejected = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0])
    expected = (-math.log(1 / (1 + math.exp(-1.0))) - math.log(1 / (1 + math.exp(1.0)))) / 2
    assert preference_loss(chosen, rejected).item() == pytest.approx(expected)


@pytest.fixture(scope="module")
def fitted():
    tasks = generate_tasks(KIND, 40, seed=1, split="train")
    chosen = [STYLES["grouped"](number_of(t)) for t in tasks]
    rejected = [STYLES["spaced"](number_of(t)) for t in tasks]
    prompts = [t.prompt for t in tasks]
    return tasks, chosen, rejected, fit_preference_model(chosen, rejected, prompts, steps=200)


def test_fit_preference_model_ranks_and_is_centred(fitted):
    tasks, chosen, rejected, model = fitted
    prompts = [t.prompt for t in tasks]
    better, worse = model.score(chosen, prompts), model.score(rejected, prompts)
    assert (better > worse).all()
    logits = torch.cat([model(model.features(chosen, prompts)), model(model.features(rejected, prompts))])
    assert logits.mean().abs() < 1e-4  # centred: the average training reply scores 0.5
    with pytest.raises(ValueError, match="one prompt per response"):
        model.score(chosen)
    with pytest.raises(ValueError, match="one of each per pair"):
        fit_preference_model(chosen, rejected[:-1])


def test_reward_model_saves_and_loads_without_pickle(fitted, tmp_path):
    tasks, chosen, _, model = fitted
    save_reward_model(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reward_model.json", "reward_model.safetensors"]
    again = load_reward_model(tmp_path)
    prompts = [t.prompt for t in tasks]
    assert torch.equal(again.score(chosen, prompts), model.score(chosen, prompts))


def test_preference_rewards_read_only_the_answer(fitted):
    tasks, chosen, _, model = fitted
    task, answer = tasks[0], chosen[0]
    plain, thought = reply(answer), render_completion("some thinking", answer)
    scores = preference_rewards([plain, thought, "no answer"], model, [task.prompt] * 3)
    assert scores[0].value == scores[1].value == pytest.approx(model.score([answer], [task.prompt]).item())
    assert scores[2].value == 0.0 and "no single" in scores[2].reason


def test_scenario_rewards_mix_rules_and_the_learned_reward(fitted):
    tasks, chosen, _, model = fitted
    arithmetic = generate_tasks("arithmetic", 1, seed=0, difficulty=2)[0]
    right = render_completion(arithmetic.thinking, arithmetic.answer)
    rewards = scenario_rewards([right, reply(chosen[0])], [arithmetic, tasks[0]], R1_WEIGHTS, model)
    assert rewards[0] == combined_reward(right, arithmetic, R1_WEIGHTS) and rewards[0].total == 3.0
    assert list(rewards[1].parts) == ["preference"]
    assert rewards[1].total == pytest.approx(model.score([chosen[0]], [tasks[0].prompt]).item())
    with pytest.raises(ValueError, match="kind 'format' has no rule"):
        scenario_rewards([reply("1")], [tasks[0]])
    with pytest.raises(ValueError, match="one task per response"):
        scenario_rewards([right], [arithmetic, tasks[0]], R1_WEIGHTS, model)


def test_style_shares_counts_each_style_of_a_models_replies(monkeypatch):
    import r1mini.reasoning.formatting as formatting

    tasks = generate_tasks(KIND, 4, seed=2, split="test")
    n = [number_of(t) for t in tasks]
    replies = [reply(STYLES["grouped"](n[0])), reply(str(n[1])), reply("12"), "no tags"]
    monkeypatch.setattr(formatting, "generate_text", lambda model, prompts, *a, **k: replies)
    shares = formatting.style_shares(None, tasks)
    assert shares == {
        "grouped": 0.25,
        "plain": 0.25,
        "spaced": 0.0,
        "other": 0.25,
        "none": 0.25,
        "rater": (2 + 1 + 0 - 1) / 4,
    }
