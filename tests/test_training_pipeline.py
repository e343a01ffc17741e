"""The pipelines (R1-Zero, R1's four stages, distillation) run end to end on nano, rejection sampling
keeps exactly the verified responses, a restarted pipeline skips finished stages and resumes the one
in progress, and the shipped checkpoints load with the configs assets/checkpoints/README.md gives."""

import json
from pathlib import Path

import pytest
import torch
from helpers import no_compiler

from r1mini.__main__ import main
from r1mini.config import ModelConfig
from r1mini.io import load, load_config, save
from r1mini.model import Transformer
from r1mini.reasoning import R1_WEIGHTS, generate_tasks, render_completion
from r1mini.reasoning.tokenizer import VOCAB_SIZE
from r1mini.training import GRPOConfig, GRPOTrainer, TrainConfig, Trainer
from r1mini.training.pipeline import (
    BaseConfig,
    DistillConfig,
    ExampleBatches,
    Pipeline,
    R1Config,
    student_compute,
    student_config,
)
from r1mini.training.preference import PreferenceConfig
from r1mini.training.rejection import RejectionConfig, judge_samples, keep_verified

NANO = ModelConfig.preset("nano", vocab_size=VOCAB_SIZE)
ASSETS = Path(__file__).resolve().parents[1] / "assets" / "checkpoints"
EASY = {"difficulty": 1, "max_new_tokens": 24}  # one-digit sums: a nano model learns them in seconds
_BASE: dict[str, torch.Tensor] = {}


def nano_base() -> Transformer:
    """A nano model SFT'd for 100 steps on one-digit arithmetic: some of its samples are right."""
    if not _BASE:
        torch.manual_seed(0)
        model = Transformer(NANO)
        config = TrainConfig(steps=100, batch_size=16, lr=1e-2, warmup_steps=5, mtp_weight=0, difficulty=1)
        Trainer(model, config, progress=False).run()
        _BASE.update(model.state_dict())
    model = Transformer(NANO)
    model.load_state_dict(_BASE)
    return model


def tiny_rl(**changes) -> GRPOConfig:
    tiny = dict(steps=2, prompts_per_step=2, group_size=2, eval_every=2, eval_tasks=2, **EASY)
    return GRPOConfig(**{**tiny, **changes})


def tiny_sft(**changes) -> TrainConfig:
    tiny = dict(steps=2, batch_size=4, eval_every=2, eval_tasks=2, **EASY)
    return TrainConfig(**{**tiny, **changes})


TINY_REJECTION = RejectionConfig(prompts=16, samples_per_prompt=2, **EASY)


def test_keep_verified_keeps_only_right_well_formed_single_language_responses():
    task = generate_tasks("arithmetic", 1, seed=0, difficulty=2)[0]
    wrong = str(int(task.answer) + 1)
    reasoned = render_completion(task.thinking, task.answer)
    direct = render_completion("", task.answer)
    samples = [
        (task, reasoned),
        (task, reasoned),  # a repeat: kept once
        (task, direct),  # right without reasoning: kept, as R1 keeps non-reasoning data
        (task, render_completion(task.thinking, wrong)),  # wrong answer
        (task, reasoned + "<answer>" + task.answer + "</answer>"),  # two answers: not well-formed
        (task, render_completion("hmm " + task.thinking, task.answer)),  # a foreign word in the CoT
        (task, task.answer),  # no tags at all
    ]
    kept = keep_verified(samples)
    assert [(k.thinking, k.answer) for k in kept] == [(task.thinking, task.answer), ("", task.answer)]
    assert all(k.prompt == task.prompt and k.check(k.answer) for k in kept)
    verdicts = [j.verdict for j in judge_samples(samples)]
    assert verdicts == ["kept", "repeat", "kept", "wrong answer", "malformed", "mixed language", "malformed"]


def test_judge_samples_names_the_reason_and_keeps_each_prompt_apart():
    a, b = generate_tasks("arithmetic", 2, seed=0, split="train", difficulty=3)
    right = render_completion(a.thinking, a.answer)
    foreign = a.thinking.replace("\n", " carry\n", 1)  # one word outside the arithmetic language
    samples = [
        (a, right),
        (a, right),  # the same text again
        (a, render_completion(a.thinking, str(int(a.answer) + 1))),
        (a, right + " done"),  # text after the answer
        (a, render_completion(foreign, a.answer)),
        (b, right),  # a's response is wrong for b
        (b, render_completion(b.thinking, b.answer)),
    ]
    judged = judge_samples(samples)
    verdicts = [j.verdict for j in judged]
    expected = ["kept", "repeat", "wrong answer", "malformed", "mixed language", "wrong answer", "kept"]
    assert verdicts == expected
    kept = [j.example for j in judged if j.verdict == "kept"]
    assert [(t.prompt, t.thinking, t.answer) for t in kept] == [
        (a.prompt, a.thinking, a.answer),
        (b.prompt, b.thinking, b.answer),
    ]
    assert all(j.example is None for j in judged if j.verdict != "kept")


def test_student_compute_counts_token_forwards():
    assert student_compute([{"tokens": 10}, {"tokens": 5}], TrainConfig()) == 45  # 3 per trained token
    step = {"tokens": 10, "generated_tokens": 4}
    assert student_compute([step], GRPOConfig(beta=0.04)) == 4 + 4 * 10  # update 3 + reference 1
    assert student_compute([step], GRPOConfig(beta=0, updates_per_batch=2)) == 4 + 7 * 10  # 2·3 + π_old


def test_student_is_dense_and_smaller():
    student = Transformer(student_config(NANO))
    assert student.moe_layers() == [] and len(student.mtp) == 0
    assert sum(p.numel() for p in student.parameters()) < sum(
        p.numel() for p in Transformer(NANO).parameters()
    )


def test_empty_sets_are_refused_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match="examples is empty"):
        ExampleBatches((), batch_size=2)
    untrained = Transformer(NANO)  # 4 tokens cannot hold a well-formed response
    config = RejectionConfig(prompts=2, samples_per_prompt=1, max_new_tokens=4)
    with pytest.raises(ValueError, match="none of the 2 responses was verified"):
        Pipeline(tmp_path, progress=False).rejection("rs", untrained, config)
    with pytest.raises(ValueError, match="samples_per_prompt=0"):
        RejectionConfig(samples_per_prompt=0)
    # the task fields and their rules are the training runs' (TaskConfig)
    with pytest.raises(ValueError, match=r"RejectionConfig: kinds=\('poems',\) must be non-empty, from"):
        RejectionConfig(kinds=["poems"])
    with pytest.raises(ValueError, match="TrainConfig: template='plain' must be one of"):
        TrainConfig(template="plain")


@pytest.mark.integration
def test_r1_pipeline_runs_end_to_end_and_restarts_skip_finished_stages(tmp_path):
    config = R1Config(
        cold_start_examples=4,
        cold_start=tiny_sft(),
        reasoning_rl=tiny_rl(reward_weights=dict(R1_WEIGHTS)),
        rejection=TINY_REJECTION,
        sft=tiny_sft(),
        preference=PreferenceConfig(prompts=4, samples_per_prompt=4, steps=20, max_new_tokens=12),
        final_rl=tiny_rl(reward_weights=dict(R1_WEIGHTS), kinds=("arithmetic", "format"), prompts_per_step=4),
    )
    logs: list[str] = []
    model = Pipeline(tmp_path, progress=False, log=logs.append).r1(nano_base(), config)
    stages = (
        "1-cold-start",
        "2-reasoning-rl",
        "3-rejection-sampling",
        "3-sft",
        "4-reward-model",
        "4-final-rl",
    )
    for stage in stages:
        assert (tmp_path / stage / "final").is_dir(), stage
    samples = json.loads((tmp_path / "3-rejection-sampling" / "final" / "samples.json").read_text())
    assert samples["sampled"] == 32 and samples["kept"] == len(samples["samples"]) >= 1
    summary = json.loads((tmp_path / "4-reward-model" / "final" / "summary.json").read_text())
    assert summary["samples"] == 16 and summary["pairs"] >= 1
    history = Pipeline(tmp_path, progress=False, log=logs.append).history("4-final-rl")
    assert len(history) == 2 and "eval_accuracy" in history[-1] and "reward_language" in history[-1]
    # stage 4 mixes the two kinds of prompt every step and reports both rewards apart
    assert all("reward_rule" in row and "reward_preference" in row for row in history)
    assert 0 <= history[-1]["eval_preference"] <= 1

    logs.clear()
    again = Pipeline(tmp_path, progress=False, log=logs.append).r1(nano_base(), config)
    assert len(logs) == 4 and all("finished before" in line for line in logs)  # 4 training stages
    for name, tensor in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], tensor), name


def test_a_killed_stage_resumes_from_its_checkpoint(tmp_path):
    config = tiny_rl(steps=3, checkpoint_every=2)
    logs: list[str] = []
    pipe = Pipeline(tmp_path, progress=False, log=logs.append)
    pipe.r1_zero(nano_base(), config)
    straight = pipe.history("r1-zero")
    # as if killed after step 2's checkpoint: the final result and the step-3 checkpoint are lost
    pipe2 = Pipeline(tmp_path / "killed", progress=False, log=logs.append)
    first = GRPOTrainer(nano_base(), config, out_dir=tmp_path / "killed" / "r1-zero" / "run", progress=False)
    first.run(2)
    first.save()
    logs.clear()
    pipe2.r1_zero(nano_base(), config)
    assert logs[0] == "r1-zero: resuming at step 2"
    resumed = pipe2.history("r1-zero")
    assert [m["reward"] for m in resumed] == [m["reward"] for m in straight]


def test_distillation_and_rl_on_the_student_at_equal_compute(tmp_path):
    config = DistillConfig(
        student_base=BaseConfig(tiny_sft(), tiny_sft(reasoning_share=0.25)),
        traces=TINY_REJECTION,
        distill=tiny_sft(),
        student_rl=tiny_rl(steps=50),
    )
    pipe = Pipeline(tmp_path, progress=False, log=lambda line: None)
    models = pipe.distill(nano_base(), config)
    assert models["distilled"].config == student_config(NANO) == models["rl"].config
    budget = student_compute(pipe.history("3-distill"), config.distill)
    rl = pipe.history("4-student-rl")
    spent = [student_compute(rl[: n + 1], config.student_rl) for n in range(len(rl))]
    assert spent[-1] >= budget and (len(spent) == 1 or spent[-2] < budget)  # stopped once past it


@pytest.mark.cli
def test_cli_runs_the_base_and_r1_zero_pipelines(tmp_path, capsys):
    base = ["pipeline", "base", "--preset", "nano", "--out", str(tmp_path / "base"), "--steps", "1"]
    with (  # --compile where torch.compile cannot run: each stage says so and trains eagerly
        no_compiler(),
        pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler.*runs eagerly") as warned,
    ):
        main([*base, "--compile"])
    assert len([w for w in warned if "runs eagerly" in str(w.message)]) == 2
    out = capsys.readouterr().out
    assert "1-sft-reasoning: done after 1 steps" in out and "2-sft-mostly-direct: done after 1 steps" in out
    with pytest.raises(SystemExit):
        main(["pipeline", "r1", "--out", str(tmp_path / "r1")])
    assert capsys.readouterr().err.endswith("pipeline r1 starts from a checkpoint: pass --init\n")
    save(nano_base(), tmp_path / "nano")
    main(
        [
            "pipeline",
            "r1-zero",
            "--init",
            str(tmp_path / "nano"),
            "--out",
            str(tmp_path / "run"),
            "--steps",
            "1",
        ]
    )
    assert "r1-zero: done after 1 steps" in capsys.readouterr().out
    assert load(tmp_path / "run" / "r1-zero" / "final").config == NANO


SHIPPED = ["base", "r1-zero", "r1", "r1-stage3", "student"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoints_load_with_the_configs_the_readme_gives(name):
    directory = ASSETS / name  # made by assets/checkpoints/make_checkpoints.py
    mini = ModelConfig.preset("mini", vocab_size=128, attn_impl="absorb")  # saved before "auto" existed
    expected = student_config(mini) if name == "student" else mini
    assert load_config(directory) == expected
    model = load(directory)
    metrics = json.loads((directory / "metrics.json").read_text())
    assert sum(p.numel() for p in model.parameters()) == metrics["parameters"]
    assert (directory / "model.safetensors").stat().st_size < 5_000_000
    assert not (directory / "optimizer.pt").exists()
    history = json.loads((directory / "history.json").read_text())  # {stage: per-step metrics}
    assert history and all(rows and "train_seconds" in rows[-1] for rows in history.values())
