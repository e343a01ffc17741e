"""The GRPO trainer: a few steps raise the reward on a task a nano model can learn in seconds, a
killed run resumes exactly (reference model, μ > 1 and bias updates included), and bad settings
are refused."""

import functools
import random

import pytest
import torch

from r1mini import ModelConfig, Transformer
from r1mini.reasoning import VOCAB_SIZE, Task
from r1mini.reasoning.arithmetic import LANGUAGE, check_integer
from r1mini.training import TIMING_METRICS, GRPOConfig, GRPOTrainer, TrainConfig, Trainer, encode_batch

NANO = ModelConfig.preset("nano", vocab_size=VOCAB_SIZE)


def digit_task(digit: int) -> Task:
    """'pick a digit', judged by arithmetic's real integer checker: only `digit` is right."""
    return Task(
        kind="arithmetic",
        difficulty=1,
        prompt="pick a digit",
        answer=str(digit),
        thinking="",
        checker=functools.partial(check_integer, digit),
        language=LANGUAGE,
    )


def any_digit_batches(step: int):
    """SFT data: 'pick a digit' answered directly with a random digit, so the model learns the
    format and spreads its answers over all ten digits."""
    rng = random.Random(step)
    return encode_batch([digit_task(rng.randrange(10)) for _ in range(16)], reasoning_share=0.0)


@functools.cache
def base_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = Transformer(NANO)
    config = TrainConfig(steps=60, lr=1e-2, warmup_steps=5, mtp_weight=0.0, eval_tasks=1)
    Trainer(model, config, batches=any_digit_batches, progress=False).run()
    return model.state_dict()


def base() -> Transformer:
    model = Transformer(NANO)
    model.load_state_dict(base_state())
    return model


def sevens(step: int) -> list[Task]:
    return [digit_task(7)] * 4


def test_grpo_raises_the_reward_of_a_learnable_task():
    config = GRPOConfig(steps=15, lr=4e-3, warmup_steps=4, group_size=16, max_new_tokens=12, eval_tasks=1)
    history = GRPOTrainer(base(), config, prompts=sevens, progress=False).run()
    assert history[0]["reward_format"] > 0.8  # the SFT base answers in the format ...
    assert history[0]["accuracy"] < 0.4  # ... with a digit that is rarely 7
    late = sum(m["accuracy"] for m in history[-3:]) / 3
    assert late > history[0]["accuracy"] + 0.3
    assert history[-1]["reward"] == pytest.approx(
        history[-1]["reward_accuracy"] + history[-1]["reward_format"]
    )
    assert history[-1]["kl"] > 0
    for key in ("kl", "clip_frac", "entropy", "response_length", "reasoning_share", "steps_per_min"):
        assert key in history[-1]


def test_resume_after_kill_continues_exactly(tmp_path):
    config = GRPOConfig(
        steps=4,
        lr=1e-2,
        group_size=4,
        max_new_tokens=12,
        beta=0.04,
        updates_per_batch=2,
        ref_refresh_every=3,
        bias_gamma=0.01,
        checkpoint_every=2,
        eval_every=2,
        eval_tasks=2,
    )
    straight = GRPOTrainer(base(), config, prompts=sevens, progress=False)
    straight.run()

    first = GRPOTrainer(base(), config, prompts=sevens, out_dir=tmp_path, progress=False)
    first.run(3)  # checkpoint at step 2; step 3 is lost with the "killed" process
    del first
    resumed = GRPOTrainer.resume(tmp_path / "checkpoint", prompts=sevens, progress=False)
    assert resumed.step == 2
    resumed.run()

    def strip(history):
        return [{k: v for k, v in m.items() if k not in TIMING_METRICS} for m in history]

    assert strip(resumed.history) == strip(straight.history)
    assert "eval_accuracy" in resumed.history[-1] and resumed.history[-1]["kl"] > 0
    for name, tensor in straight.reference.state_dict().items():
        assert torch.equal(resumed.reference.state_dict()[name], tensor), name


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="group_size=1"):
        GRPOConfig(group_size=1)
    with pytest.raises(ValueError, match="loss_type='ppo'"):
        GRPOConfig(loss_type="ppo")
    with pytest.raises(ValueError, match="needs a GRPOConfig"):
        GRPOTrainer(Transformer(NANO), TrainConfig(), progress=False)
    sft = Trainer(base(), TrainConfig(steps=1, eval_tasks=1), batches=any_digit_batches, progress=False)
    sft.save(tmp_path / "sft")
    with pytest.raises(ValueError, match="is a checkpoint of 'Trainer', not of GRPOTrainer"):
        GRPOTrainer.resume(tmp_path / "sft")
