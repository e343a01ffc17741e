"""The shipped checkpoints' recipes, timed again: `python -m r1mini.bench recipes`.

Re-runs stages of `assets/checkpoints/make_checkpoints.py` from the checkpoints they start from,
in a temporary directory (nothing shipped is touched), and prints each stage's training time
(evaluation excluded: `step_seconds`) beside the time the shipped `history.json` recorded at the
same step, with the tokens each run read and generated. The recipes are seeded, so a stage that
reads and generates the same tokens did the same work, and its two times compare the code (the
shipped times come from the machine and the day that made the checkpoints).

Stages: `r1-zero` (GRPO from `base`), `r1-cold-start` (R1's cold-start SFT of `base`) and
`r1-reasoning-rl` (R1's reasoning RL from that cold start). `r1`'s later stages follow a newer
recipe than the shipped `r1` (README), so they have no shipped time to compare with.
`--steps N` stops each stage after N steps (the shipped time is then read at step N). `--compile`
trains under torch.compile (`r1mini.model.compiled`); the training time then includes compiling,
which happens in the first steps (the table says how long the first step took).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import TypeVar

from r1mini.io.checkpoint import SHIPPED, shipped
from r1mini.model import Transformer
from r1mini.training.grpo import GRPOConfig
from r1mini.training.loop import Metrics, step_seconds
from r1mini.training.pipeline import Pipeline, R1Config, cold_start_traces, r1_zero_config
from r1mini.training.trainer import TrainConfig

Config = TypeVar("Config", TrainConfig, GRPOConfig)

# stage -> (the shipped checkpoint whose history.json holds it, its name there and in the pipeline)
STAGES = {
    "r1-zero": ("r1-zero", "r1-zero"),
    "r1-cold-start": ("r1", "1-cold-start"),
    "r1-reasoning-rl": ("r1", "2-reasoning-rl"),
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, from {tuple(STAGES)}")
    parser.add_argument("--steps", type=int, default=0, help="stop each stage after this many steps (0: all)")
    parser.add_argument("--compile", action="store_true", help="under torch.compile (compiling is timed)")


def run_stages(
    stages: list[str], steps: int, directory: Path, compiled: bool = False
) -> dict[str, list[Metrics]]:
    """Run `stages` (in order; the reasoning RL needs the cold start, run first if not asked for)
    in a pipeline under `directory`, compiled or not; returns each asked stage's per-step metrics."""

    def capped(config: Config) -> Config:  # the recipe's config, stopped after `steps` steps if asked
        return dataclasses.replace(config, steps=min(steps, config.steps)) if steps else config

    pipe = Pipeline(directory, progress=False, log=lambda message: None, compiled=compiled)
    r1 = R1Config()

    def cold_start() -> Transformer:  # trained once; a second call loads the finished stage
        return pipe.sft("1-cold-start", shipped("base"), capped(r1.cold_start), cold_start_traces(r1))

    histories = {}
    for stage in stages:
        if stage == "r1-zero":
            pipe.r1_zero(shipped("base"), capped(r1_zero_config()))
        elif stage == "r1-cold-start":
            cold_start()
        else:  # the reasoning RL starts from the cold start
            pipe.grpo("2-reasoning-rl", cold_start(), capped(r1.reasoning_rl))
        histories[stage] = pipe.history(STAGES[stage][1])
    return histories


def totals(history: list[Metrics]) -> tuple[float, int, int]:
    """Training seconds, tokens read and tokens generated over `history`'s steps."""
    steps = [m for m in history if m.get("step", 0) > 0]
    seconds = sum(step_seconds(m) for m in steps)
    return seconds, sum(m.get("tokens", 0) for m in steps), sum(m.get("generated_tokens", 0) for m in steps)


def run(args: argparse.Namespace) -> None:
    stages = args.stages.split(",")
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"--stages has {unknown}; choose from {tuple(STAGES)}")
    if args.steps < 0:
        raise ValueError(f"--steps={args.steps} must be >= 0 (0: every step of the recipe)")
    with tempfile.TemporaryDirectory(prefix="r1mini-recipes-") as directory:
        histories = run_stages(stages, args.steps, Path(directory), args.compile)
    header = ["stage", "steps", "training now", "when shipped", "tokens read (now / shipped)", "generated"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for stage, history in histories.items():
        checkpoint, key = STAGES[stage]
        recorded = json.loads((SHIPPED / checkpoint / "history.json").read_text())[key]
        done = max(m["step"] for m in history)
        then = [m for m in recorded if 0 < m["step"] <= done]
        now_s, now_read, now_made = totals(history)
        then_s, then_read, then_made = totals(then)
        print(
            f"| {stage} | {done} | {now_s:.1f} s | {then_s:.1f} s | {now_read:,} / {then_read:,} "
            f"| {now_made:,} / {then_made:,} |"
        )
    if args.compile:
        firsts = [
            f"{stage} {step_seconds(next(m for m in history if m.get('step', 0) > 0)):.1f} s"
            for stage, history in histories.items()
        ]
        print(f"Under torch.compile; the first step, which compiles, took: {', '.join(firsts)}")
