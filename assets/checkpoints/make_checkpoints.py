"""Make the shipped checkpoints beside this file (what each is: README.md here).

    python assets/checkpoints/make_checkpoints.py base       # the mini base: mostly answers directly
    python assets/checkpoints/make_checkpoints.py r1-zero    # pure RL from base (R1 §2.2)
    python assets/checkpoints/make_checkpoints.py r1         # R1's four stages from base (R1 §2.3)
    python assets/checkpoints/make_checkpoints.py r1-stage3  # the newer recipe's stage 3 (needs r1)
    python assets/checkpoints/make_checkpoints.py student    # distilled from r1 vs RL (R1 §2.4)
    python assets/checkpoints/make_checkpoints.py balance    # bias balancing: γ > 0 vs γ = 0

Each runs a resumable pipeline (`r1mini.training.pipeline`) in `runs/checkpoints/<name>` (run the
same command again after a kill: finished stages are skipped, the stage in progress resumes), then
writes to `assets/checkpoints/<name>/` the final weights and config only (no optimizer state),
`history.json` (each training stage's per-step metrics, with the cumulative training seconds) and
`metrics.json` (held-out measurements of the model, and the wall-clock seconds of the command).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from r1mini.config import ModelConfig
from r1mini.io import load, save
from r1mini.io.checkpoint import shipped
from r1mini.model import Transformer
from r1mini.reasoning import (
    VOCAB_SIZE,
    decode_response,
    encode_prompt,
    evaluate_model,
    generate,
    generate_tasks,
    score_sample,
    summarize,
)
from r1mini.reasoning.formatting import KIND as FORMAT
from r1mini.reasoning.formatting import style_shares
from r1mini.reasoning.task import Task
from r1mini.training import GRPOTrainer, TrainConfig
from r1mini.training.loop import step_seconds
from r1mini.training.pipeline import (
    DIFFICULTY,
    BaseConfig,
    DistillConfig,
    Pipeline,
    R1Config,
    non_reasoning_samples,
    r1_zero_config,
    student_compute,
)

HERE = Path(__file__).resolve().parent
RUNS = HERE.parents[1] / "runs" / "checkpoints"
HELD_OUT = 128  # held-out arithmetic tasks every checkpoint is measured on


def accuracy_by_mode(model: Transformer, tasks: list[Task], k: int = 8, temperature: float = 1.0) -> dict:
    """Sample k responses per task (GRPO's sampling, temperature 1 by default) and split their
    accuracy by whether the response reasons (non-empty <think>) or answers directly."""
    owners = [task for task in tasks for _ in range(k)]
    records = []
    for start in range(0, len(owners), 256):
        batch = owners[start : start + 256]
        prompts = [encode_prompt(task.prompt) for task in batch]
        gen = generate(model, prompts, 128, temperature=temperature, vocab_limit=VOCAB_SIZE, seed=start)
        texts = [decode_response(ids) for ids in gen.generated]
        records += [score_sample(task, text) for task, text in zip(batch, texts, strict=True)]
    reasoned = [r for r in records if r.reasons]
    direct = [r for r in records if not r.reasons]

    def accuracy(rs: list) -> float | None:
        return round(sum(r.correct for r in rs) / len(rs), 4) if rs else None

    return {
        "temperature": temperature,
        "samples": len(records),
        "accuracy": accuracy(records),
        "reasoning_share": round(len(reasoned) / len(records), 4),
        "accuracy_when_reasoning": accuracy(reasoned),
        "accuracy_when_direct": accuracy(direct),
    }


def measure(model: Transformer) -> dict[str, Any]:
    """Held-out numbers of a checkpoint: greedy, R1-style sampled (T=0.6, top-p 0.95, k=4), and
    accuracy split by reasoning vs answering directly at temperature 1."""
    tasks = generate_tasks("arithmetic", HELD_OUT, 0, "test", DIFFICULTY)
    out: dict[str, Any] = {"held_out_tasks": len(tasks), "difficulty": DIFFICULTY}
    for name, k, temperature in (("greedy", 1, 0.0), ("sampled_t0.6", 4, 0.6)):
        rows = evaluate_model(
            model,
            tasks,
            k=k,
            temperature=temperature,
            top_p=0.95 if temperature else None,
            max_new_tokens=128,
            progress=False,
        )
        s = summarize(rows)
        out[name] = {
            "pass@1": round(s["pass@1"], 4),
            "reasoning_share": round(s["reasoning_share"], 4),
            "mean_length": round(s["mean_length"], 2),
        }
    out["by_mode_t1"] = accuracy_by_mode(model, tasks)
    out["parameters"] = sum(p.numel() for p in model.parameters())
    return out


def compact(history: list[dict]) -> list[dict]:
    """Per-step metrics, numbers rounded, with `train_seconds`: training time so far (evaluation
    excluded), from each step's measured rate."""
    rows, seconds = [], 0.0
    for m in history:
        seconds += step_seconds(m)
        row = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in m.items()}
        rows.append({**row, "train_seconds": round(seconds, 2)})
    return rows


def ship(name: str, model: Transformer, histories: dict[str, list], extra: dict, started: float) -> None:
    """Write `assets/checkpoints/<name>`: history.json, metrics.json, then weights + config and the
    manifest (`r1mini.io.save`), whose SHA-256s cover all four."""
    out = HERE / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "history.json").write_text(json.dumps({k: compact(v) for k, v in histories.items()}))
    metrics = {**measure(model), **extra, "command_wall_seconds": round(time.time() - started, 1)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    save(model, out)
    print(json.dumps(metrics, indent=1))


def mini() -> Transformer:
    """A fresh mini model (seed 0), its head as wide as the preset's vocabulary."""
    torch.manual_seed(0)
    return Transformer(ModelConfig.preset("mini"))


def make_base(started: float) -> None:
    pipe = Pipeline(RUNS / "base")
    base = pipe.base(mini(), BaseConfig())
    stages = ("1-sft-reasoning", "2-sft-mostly-direct")
    ship("base", base, {s: pipe.history(s) for s in stages}, {"stages": list(stages)}, started)


def make_r1_zero(started: float) -> None:
    """GRPO from base; the history starts with step 0, the base on the run's own held-out tasks."""
    pipe = Pipeline(RUNS / "r1-zero")
    config = r1_zero_config()
    model = pipe.r1_zero(shipped("base"), config)
    start = GRPOTrainer(shipped("base"), config, progress=False).evaluate()
    history = [{"step": 0, **start}, *pipe.history("r1-zero")]
    ship("r1-zero", model, {"r1-zero": history}, {"from": "base"}, started)


def make_r1(started: float) -> None:
    pipe = Pipeline(RUNS / "r1")
    model = pipe.r1(shipped("base"), R1Config())
    stages = ("1-cold-start", "2-reasoning-rl", "3-sft", "4-final-rl")
    kept = json.loads((RUNS / "r1" / "3-rejection-sampling" / "final" / "samples.json").read_text())
    rejection = {k: kept[k] for k in ("sampled", "kept", "reasoning_share")}
    ship("r1", model, {s: pipe.history(s) for s in stages}, {"from": "base", "rejection": rejection}, started)


def make_r1_stage3(started: float) -> None:
    """Stage 3 of the newer R1 recipe (`R1Config`, which the shipped r1 predates): SFT of base on
    verified reasoning samples plus non-reasoning samples (the formatting family), from which chapter
    7 runs the new stage 4 live. The interim RL model that writes the reasoning samples is the shipped
    r1 (its own stage-2 model is not shipped)."""
    pipe = Pipeline(RUNS / "r1-stage3")
    config = R1Config()
    kept = pipe.rejection("3-rejection-sampling", load(HERE / "r1"), config.rejection)
    writing = non_reasoning_samples(config, len(kept))
    model = pipe.sft("3-sft", load(HERE / "base"), config.sft, [*kept, *writing])
    samples = json.loads((RUNS / "r1-stage3" / "3-rejection-sampling" / "final" / "samples.json").read_text())
    formats = generate_tasks(FORMAT, HELD_OUT, 0, "test")
    extra = {
        "from": "base, on r1's verified samples and non-reasoning samples",
        "rejection": {k: samples[k] for k in ("sampled", "kept", "reasoning_share")},
        "non_reasoning_samples": len(writing),
        "format_greedy": style_shares(model, formats),
        "format_t1": style_shares(model, formats, samples=4, temperature=1.0),
    }
    ship("r1-stage3", model, {"3-sft": pipe.history("3-sft")}, extra, started)


def make_student(started: float) -> None:
    pipe = Pipeline(RUNS / "student")
    config = DistillConfig()
    models = pipe.distill(shipped("r1"), config)
    base = ("1-student-base/1-sft-reasoning", "1-student-base/2-sft-mostly-direct")
    stages = (*base, "3-distill", "4-student-rl")
    compute = {
        "distill": student_compute(pipe.history("3-distill"), config.distill),
        "student_rl": student_compute(pipe.history("4-student-rl"), config.student_rl),
    }
    extra = {
        "from": "r1 (teacher)",
        "compute_token_forwards": compute,
        "student_base": measure(models["student_base"]),
        "student_rl": measure(models["rl"]),
    }
    ship("student", models["distilled"], {s: pipe.history(s) for s in stages}, extra, started)


def make_balance(started: float) -> None:
    """Expert load max/mean with the bias update (γ = 1e-3, V3 §2.1.2) and without (γ = 0): the
    same short SFT from scratch, same seed."""
    results = {}
    for gamma in (1e-3, 0.0):
        pipe = Pipeline(RUNS / f"balance-gamma-{gamma:g}")
        stage = "sft"
        pipe.sft(stage, mini(), TrainConfig(steps=300, difficulty=DIFFICULTY, bias_gamma=gamma))
        history = pipe.history(stage)
        last = [m["load_max_over_mean"] for m in history[-50:]]  # [steps, MoE layers]
        per_layer = [round(sum(step[i] for step in last) / len(last), 3) for i in range(len(last[0]))]
        results[f"gamma={gamma:g}"] = {
            "load_max_over_mean_last50": per_layer,
            "mean": round(sum(per_layer) / len(per_layer), 3),
        }
    (HERE / "balance.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1), f"\n{time.time() - started:.0f} s")


MAKERS = {
    "base": make_base,
    "r1-zero": make_r1_zero,
    "r1": make_r1,
    "r1-stage3": make_r1_stage3,
    "student": make_student,
    "balance": make_balance,
}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=list(MAKERS))
    MAKERS[parser.parse_args().name](time.time())
