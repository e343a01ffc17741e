"""Preference tuning: DPO's loss against the paper's formula by hand, the pair encoding, a short
DPOTrainer run that widens the margin on nano, and stage 4's preference data, reward model, mixed
prompts and rewards in GRPO."""

from __future__ import annotations

import math
import random

import pytest
import torch

from r1mini.config import ModelConfig
from r1mini.model import Transformer
from r1mini.reasoning import VOCAB_SIZE, render_completion
from r1mini.reasoning.formatting import STYLES, make_format, number_of
from r1mini.reasoning.template import encode_prompt
from r1mini.reasoning.tokenizer import encode
from r1mini.training import GRPOConfig, GRPOTrainer
from r1mini.training.dpo import DPOConfig, DPOTrainer, dpo_loss, encode_pairs, response_logprobs
from r1mini.training.pipeline import R1Config, ScenarioPrompts, non_reasoning_samples
from r1mini.training.preference import PreferenceConfig, fit_reward, ranked_pairs

NANO = ModelConfig.preset("nano", vocab_size=VOCAB_SIZE)


def reply(answer: str) -> str:
    return render_completion("", answer)


def pairs(n: int, seed: int = 0):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        task = make_format(rng, 4)
        k = number_of(task)
        out.append((task, reply(STYLES["grouped"](k)), reply(STYLES["spaced"](k))))
    return out


def test_dpo_loss_by_hand():
    pc, pr, rc, rr = (torch.tensor(v) for v in ([-3.0, -5.0], [-4.0, -2.0], [-3.5, -5.0], [-3.5, -3.0]))
    beta = 0.5
    margins = [beta * ((-3.0 + 3.5) - (-4.0 + 3.5)), beta * ((-5.0 + 5.0) - (-2.0 + 3.0))]  # 0.5, -0.5
    expected = sum(-math.log(1 / (1 + math.exp(-m))) for m in margins) / 2
    loss, stats = dpo_loss(pc, pr, rc, rr, beta)
    assert loss.item() == pytest.approx(expected)
    assert stats["reward_margin"] == pytest.approx(0.0) and stats["reward_accuracy"] == 0.5
    assert stats["reward_chosen"] == pytest.approx((0.25 + 0.0) / 2)


def test_encode_pairs_masks_exactly_the_responses():
    batch = pairs(3)
    tokens, mask = encode_pairs(batch)
    assert tokens.shape[0] == 6 and mask.shape == (6, tokens.shape[1] - 1)
    for row, (task, response) in enumerate([(t, c) for t, c, _ in batch] + [(t, r) for t, _, r in batch]):
        n_response = len(encode(response.removeprefix("<think>\n") + "<eos>"))
        assert mask[row].sum() == n_response
        first = int(mask[row].nonzero()[0])
        assert first == len(encode_prompt(task.prompt)) - 1  # predicts the first response token


def test_dpo_widens_the_margin_and_keeps_the_reference():
    torch.manual_seed(0)
    model = Transformer(NANO)
    data = pairs(16)
    config = DPOConfig(steps=15, lr=3e-3, batch_size=8, beta=0.1, kinds=("format",))
    trainer = DPOTrainer(model, config, pairs=data, progress=False)
    reference = {k: v.clone() for k, v in trainer.reference.state_dict().items()}
    history = trainer.run()
    assert history[0]["reward_margin"] == pytest.approx(0.0, abs=1e-6)  # π_θ = π_ref at step 1
    assert history[-1]["reward_margin"] > 0.5 and history[-1]["reward_accuracy"] == 1.0
    assert history[-1]["loss"] < history[0]["loss"]
    for name, tensor in trainer.reference.state_dict().items():
        assert torch.equal(tensor, reference[name]), name
    tokens, mask = encode_pairs(data)
    with torch.no_grad():
        gap = response_logprobs(model, tokens, mask) - response_logprobs(trainer.reference, tokens, mask)
    assert (gap[:16] - gap[16:]).mean() > 0  # preferred replies gained on the rejected ones
    with pytest.raises(ValueError, match="beta"):
        DPOConfig(beta=0)
    with pytest.raises(ValueError, match="pairs is empty"):
        DPOTrainer(Transformer(NANO), config, pairs=[], progress=False)


def test_scenario_prompts_alternate_the_two_kinds():
    prompts = ScenarioPrompts(("arithmetic", "format"), 5, seed=3, difficulty=2)
    kinds = [t.kind for t in prompts(0)]
    assert kinds == ["arithmetic", "format", "arithmetic", "format", "arithmetic"]
    assert [t.prompt for t in prompts(1)] == [t.prompt for t in prompts(1)] != [t.prompt for t in prompts(0)]
    with pytest.raises(ValueError, match="must mix"):
        ScenarioPrompts(("arithmetic",), 4)


def test_non_reasoning_samples_follow_the_ratio():
    config = R1Config()
    samples = non_reasoning_samples(config, 300)
    assert len(samples) == 100 and all(t.kind == "format" for t in samples)
    assert non_reasoning_samples(R1Config(non_reasoning_ratio=0), 300) == []
    with pytest.raises(ValueError, match="non_reasoning_kinds"):
        R1Config(non_reasoning_kinds=("arithmetic",))


def test_grpo_with_a_preference_model_reports_both_rewards():
    torch.manual_seed(0)
    model = Transformer(NANO)
    preference = PreferenceConfig(
        prompts=4, samples_per_prompt=3, steps=20, max_new_tokens=10, temperature=2.0
    )
    ranked, samples = ranked_pairs(model, preference)
    assert len(samples) == 12 and all(a != b for _, a, b in ranked)
    judge = fit_reward(ranked or pairs(4), preference)
    config = GRPOConfig(
        steps=1, prompts_per_step=2, group_size=2, kinds=("arithmetic", "format"), difficulty=1,
        max_new_tokens=12, eval_every=1, eval_tasks=2,
    )  # fmt: skip
    run = GRPOTrainer(model, config, prompts=ScenarioPrompts(config.kinds, 2, difficulty=1), preference=judge)
    (step,) = run.run()
    assert {"reward_rule", "reward_preference", "eval_accuracy", "eval_preference"} <= set(step)
    assert 0 <= step["reward_preference"] <= 1 and 0 <= step["reward_rule"] <= 3
    assert len(run.eval_tasks) == 2 and len(run.open_eval_tasks) == 2  # arithmetic / format held out


def test_encode_conversation_is_encode_example_for_the_reference():
    from r1mini.reasoning import encode_example, generate_tasks
    from r1mini.reasoning.template import encode_conversation

    task = generate_tasks("arithmetic", 1, seed=5, difficulty=3)[0]
    assert encode_conversation(task.prompt, render_completion(task.thinking, task.answer)) == encode_example(
        task
    )
    with pytest.raises(ValueError, match="prefill"):
        encode_conversation(task.prompt, "<answer>1</answer>")


def test_a_run_on_kinds_no_rule_checks_refuses_to_evaluate():
    run = DPOTrainer(Transformer(NANO), DPOConfig(kinds=("format",)), pairs=pairs(2), progress=False)
    assert run.eval_tasks == []
    with pytest.raises(ValueError, match="held-out tasks a rule can check"):
        run.evaluate()
