"""The next-token trainer: loss falls, the bias update balances experts, a killed run resumes
exactly, and bad settings are refused."""

import dataclasses

import pytest
import torch

from r1mini import ModelConfig, Transformer
from r1mini.io import load
from r1mini.reasoning import VOCAB_SIZE
from r1mini.training import TIMING_METRICS, TrainConfig, Trainer
from r1mini.training.loop import make_optimizer

NANO = ModelConfig.preset("nano", vocab_size=VOCAB_SIZE)
FAST = dict(batch_size=8, lr=1e-2, warmup_steps=2, eval_tasks=2, max_new_tokens=8, seed=1)


def nano(seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(NANO)


def without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in metrics.items() if k not in TIMING_METRICS} for metrics in history]


def test_loss_goes_down_and_metrics_are_reported():
    seen = []
    trainer = Trainer(nano(), TrainConfig(steps=30, **FAST), callback=seen.append, progress=False)
    history = trainer.run()
    assert seen == history and [m["step"] for m in history] == list(range(1, 31))
    first, last = history[0], history[-1]
    assert sum(m["loss"] for m in history[-5:]) / 5 < 0.6 * first["loss"]
    assert last["mtp_loss"] < first["mtp_loss"]
    assert last["loss"] == pytest.approx(last["ce"] + 0.3 * last["mtp_loss"], rel=1e-5)
    assert len(last["load_max_over_mean"]) == NANO.n_moe_layers + NANO.n_mtp_layers
    assert last["tokens_per_s"] > 0 and last["grad_norm"] > 0 and last["lr"] < FAST["lr"]


def skewed(model: Transformer) -> Transformer:
    """Route every token to experts 0 and 1 at first: their correction bias starts far ahead."""
    for moe in model.moe_layers():
        moe.gate.bias[:2] = 0.1
    return model


def test_bias_update_balances_the_experts():
    def final_imbalance(gamma: float) -> float:
        config = TrainConfig(steps=30, bias_gamma=gamma, mtp_weight=0.0, **FAST)
        history = Trainer(skewed(nano()), config, progress=False).run()
        main = NANO.n_moe_layers  # the MTP module's MoE sees no tokens with mtp_weight=0
        return sum(sum(m["load_max_over_mean"][:main]) for m in history[-6:]) / (6 * main)

    without, with_bias = final_imbalance(0.0), final_imbalance(0.01)
    assert without > 3.3  # nearly always top-2 of 8 always on the same two experts: max/mean = 4
    assert with_bias < 0.6 * without


def test_balance_loss_is_added_with_alpha():
    config = TrainConfig(steps=2, balance_alpha=0.01, **FAST)
    last = Trainer(nano(), config, progress=False).run()[-1]
    assert last["loss"] == pytest.approx(
        last["ce"] + 0.3 * last["mtp_loss"] + 0.01 * last["balance_loss"], rel=1e-5
    )


def test_resume_after_kill_continues_exactly(tmp_path):
    config = TrainConfig(
        steps=6, checkpoint_every=3, eval_every=3, bias_gamma=0.01, balance_alpha=1e-3, **FAST
    )
    straight = Trainer(nano(), config, progress=False)
    straight.run()

    first = Trainer(nano(), config, out_dir=tmp_path, progress=False)
    first.run(4)  # checkpoint at step 3, then one more step that the "kill" loses
    del first
    resumed = Trainer.resume(tmp_path / "checkpoint", progress=False)
    assert resumed.step == 3
    resumed.run()
    assert without_timing(resumed.history) == without_timing(straight.history)
    final = load(tmp_path / "checkpoint")
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(final.state_dict()[name], tensor), name


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="warmup_steps=-1 must be >= 0"):
        TrainConfig(warmup_steps=-1)
    with pytest.raises(ValueError, match="mode='rl'"):
        TrainConfig(mode="rl")
    with pytest.raises(ValueError, match="vocab_size=64"):
        Trainer(Transformer(ModelConfig.preset("nano")), TrainConfig(), progress=False)
    with pytest.raises(ValueError, match="kinds="):
        dataclasses.replace(TrainConfig(), kinds=("poetry",))


def test_the_fused_adamw_of_the_trainers_steps_like_the_for_loop_one():
    config = TrainConfig(steps=1, **FAST)
    models = nano(), nano()
    fused = make_optimizer(models[0], config)
    assert fused.defaults["fused"]
    index = {id(p): i for i, p in enumerate(models[0].parameters())}
    params = list(models[1].parameters())
    groups = [
        {**group, "params": [params[index[id(p)]] for p in group["params"]], "fused": False, "foreach": False}
        for group in fused.param_groups
    ]
    loop = torch.optim.AdamW(groups)
    tokens = torch.randint(0, VOCAB_SIZE, (2, 9))
    for _ in range(3):
        for model, optimizer in zip(models, (fused, loop), strict=True):
            optimizer.zero_grad()
            model(tokens).square().mean().backward()
            optimizer.step()
    for ours, reference in zip(*(m.parameters() for m in models), strict=True):
        torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)
