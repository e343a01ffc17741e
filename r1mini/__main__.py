"""`python -m r1mini …`: the command line.

python -m r1mini info deepseek-v3-671b     parameters, KV cache and memory of a preset
python -m r1mini info --config DIR/config.json        the same for a published DeepSeek config
python -m r1mini generate --checkpoint r1 --prompt "compute 478+56"
                                           responses from a checkpoint (r1mini.generate_command)
python -m r1mini train --mode sft --preset mini --steps 1200 --out runs/sft
                                           pretraining or SFT with MTP (r1mini.training.trainer)
python -m r1mini grpo --init runs/sft/checkpoint --steps 100 --out runs/grpo
                                           GRPO on rule-based rewards (r1mini.training.grpo)
python -m r1mini pipeline r1-zero --init assets/checkpoints/base --out runs/r1-zero
                                           R1-Zero, R1 or distillation (r1mini.training.pipeline)
`--resume` continues a stopped run from `OUT/checkpoint` exactly, with the settings it was started with;
a pipeline started again with the same --out skips its finished stages and resumes the one in progress.
`--kernels triton` trains through the Triton kernels (on a CPU, in Triton's interpreter: slow, but the
same kernel code a GPU compiles); the default `auto` uses them on a GPU and PyTorch on a CPU.
`--compile` trains the model under torch.compile (`r1mini.model.compiled`): faster steps once it
has compiled, which takes a minute or more, so it pays on long runs only (README).

Under `torchrun --nproc-per-node N -m r1mini train|grpo|pipeline …` the N processes train data
parallel (`r1mini.parallel.data`: the same result as one process with the same global batch, one
checkpoint, printed by process 0); `generate` shards the model (`r1mini.parallel`).

Every command checks what it needs before it computes (the settings, --out, --init, --resume) and
reports a problem as one line on stderr with exit code 2; `--debug` shows the traceback instead.
A run whose loss turns NaN or inf stops at once (exit code 1), keeping its last checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from r1mini import generate_command, kernels
from r1mini.accounting import (
    count_parameters,
    human,
    kv_cache_bytes_per_token,
    streamed_weight_bytes,
    weight_bytes,
)
from r1mini.config import ModelConfig
from r1mini.io import load
from r1mini.io.published import published_bytes, read_config
from r1mini.model import Transformer, compile_model
from r1mini.parallel import init_from_env, world
from r1mini.reasoning.rewards import R1_WEIGHTS, R1_ZERO_WEIGHTS
from r1mini.reasoning.tokenizer import VOCAB_SIZE
from r1mini.training import GRPOTrainer, RunConfig, Trainer
from r1mini.training.loop import CHECKPOINT, DivergedError, TrainingRun, locate_checkpoint
from r1mini.training.pipeline import BaseConfig, DistillConfig, Pipeline, R1Config, r1_zero_config
from r1mini.training.state import sibling


def info(config: ModelConfig) -> str:
    """A readable table of what `config` costs, computed from the model it builds (on meta)."""
    name = config.name
    counts = count_parameters(config)
    lines = [
        f"{name}: {config.n_layers} blocks ({config.n_dense_layers} dense + {config.n_moe_layers} MoE), "
        f"dim {config.dim}, {config.n_heads} heads, "
        f"{config.n_routed_experts} routed experts (top-{config.n_activated_experts}) "
        f"+ {config.n_shared_experts} shared",
        "",
        f"{'component':<18}{'parameters':>16}{'share':>9}",
    ]
    for part, n in counts["breakdown"].items():
        lines.append(f"{part:<18}{n:>16,}{n / counts['total']:>9.1%}")
    lines += [
        f"{'total':<18}{counts['total']:>16,}   ({human(counts['total'])})",
        f"{'activated/token':<18}{counts['activated_without_embedding']:>16,}   "
        f"({human(counts['activated_without_embedding'])}, as DeepSeek counts: embedding lookup left out)",
        f"{'  with embedding':<18}{counts['activated']:>16,}   ({human(counts['activated'])})",
        f"{'MTP (own)':<18}{counts['mtp']:>16,}   ({human(counts['mtp'])})",
        "",
        "KV cache per token, all layers, bf16:",
    ]
    for kind, n in kv_cache_bytes_per_token(config).items():
        lines.append(f"  {kind:<16}{n:>14,} bytes")
    lines.append("Weights (main model):")
    for kind, n in weight_bytes(config).items():
        lines.append(f"  {kind:<16}{human(n, 'B'):>14}")
    on_disk = published_bytes(config, fp8=config.score_func == "sigmoid")  # V3/R1 publish FP8, V2 bf16
    lines += [
        f"Published checkpoint (r1mini.io.save_published's layout): {human(on_disk, 'B')}",
        f"Streamed, one block at a time (bf16): {human(streamed_weight_bytes(config), 'B')} of weights held",
    ]
    return "\n".join(lines)


RUN_FLAGS = [
    "steps",
    "lr",
    "warmup_steps",
    "bias_gamma",
    "kinds",
    "difficulty",
    "template",
    "seed",
    "checkpoint_every",
    "eval_every",
    "eval_tasks",
    "max_new_tokens",
]
TRAIN_FLAGS = ["mode", "batch_size", "reasoning_share", "mtp_weight", "balance_alpha"]
GRPO_FLAGS = [
    "prompts_per_step",
    "group_size",
    "temperature",
    "updates_per_batch",
    "clip_eps",
    "clip_eps_high",
    "beta",
    "loss_type",
    "ref_refresh_every",
]
# command -> (its help, its trainer, the config fields it takes as --flags)
TRAINERS: dict[str, tuple[str, type[TrainingRun], list[str]]] = {
    "train": ("pretraining or SFT (+MTP)", Trainer, RUN_FLAGS + TRAIN_FLAGS),
    "grpo": ("GRPO reinforcement learning", GRPOTrainer, RUN_FLAGS + GRPO_FLAGS),
}
REWARDS = {"r1-zero": R1_ZERO_WEIGHTS, "r1": R1_WEIGHTS}


def add_run_flags(parser: argparse.ArgumentParser, config_class: type[RunConfig], names: list[str]) -> None:
    """One --flag per config field; unset flags keep the dataclass default (shown in --help)."""
    defaults = {f.name: f.default for f in dataclasses.fields(config_class)}
    for name in names:
        default = defaults[name]
        kind = str if isinstance(default, tuple) else type(default)
        if default is None:
            kind = int if name == "difficulty" else float
        help_text = f"default {','.join(default) if isinstance(default, tuple) else default}"
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None, help=help_text)
    parser.add_argument(
        "--preset",
        default="mini",
        choices=ModelConfig.preset_names(),
        help="start from a fresh model of this preset (default mini)",
    )
    parser.add_argument("--init", default=None, help="start from this checkpoint directory instead")
    parser.add_argument("--out", required=True, help="run directory; checkpoints go to OUT/checkpoint")
    parser.add_argument("--resume", action="store_true", help="continue the run in OUT exactly")
    parser.add_argument("--log-every", type=int, default=10, help="print metrics every N steps")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    add_kernels_flag(parser)
    add_compile_flag(parser)


def add_compile_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compile",
        action="store_true",
        help="train the model under torch.compile (r1mini.model.compile_model): faster steps after "
        "compiling for a minute or more, so it pays on long runs only (README); eager where it cannot",
    )


def add_kernels_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kernels",
        choices=("auto", "torch", "triton"),
        default="auto",
        help="r1mini.kernels.use: auto = Triton on a GPU, PyTorch on a CPU",
    )


def load_init(path: str) -> Transformer:
    """The checkpoint --init names, or an error that says it was --init that failed to load."""
    try:
        return load(path)
    except (ValueError, OSError) as e:
        raise ValueError(f"--init={path}: {e}") from e


def fresh_model(args: argparse.Namespace) -> Transformer:
    """The model a new run starts from: a checkpoint, or the preset (widened to the tokenizer)."""
    if args.init is not None:
        return load_init(args.init)
    config = ModelConfig.preset(args.preset)
    torch.manual_seed(args.seed or 0)
    return Transformer(config.replace(vocab_size=max(config.vocab_size, VOCAB_SIZE)))


def metrics_line(metrics: dict[str, Any], steps: int) -> str:
    def show(value: Any) -> str:
        if isinstance(value, list):
            return "[" + " ".join(f"{v:.2f}" for v in value) + "]"
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    rest = " ".join(f"{key} {show(value)}" for key, value in metrics.items() if key != "step")
    return f"step {metrics['step']}/{steps} {rest}"


def say(text: str) -> None:
    """Print a line of the run's output: on process 0 only, when several processes train."""
    if world().leader:
        print(text, flush=True)


def check_out(out: Path) -> None:
    """--out must be a directory this user can create and write into (checked by writing)."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out={out} is an existing file, not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"--out={out} cannot be written: {e.strerror or e}") from e


def holds_run(checkpoint: Path) -> bool:
    """Whether a run was started at `checkpoint` (finished, or interrupted mid-save)."""
    return any(path.exists() for path in (checkpoint, sibling(checkpoint, "new"), sibling(checkpoint, "old")))


def train(args: argparse.Namespace) -> TrainingRun:
    """Check everything the run needs, build (or resume) it, run it to the end, print metrics."""
    _, trainer_class, names = TRAINERS[args.command]
    out = Path(args.out)
    if args.log_every < 1:
        raise ValueError(f"--log-every={args.log_every} must be >= 1")

    def log(metrics: dict[str, Any]) -> None:
        if metrics["step"] % args.log_every == 0 or metrics["step"] == run.config.steps:
            say(metrics_line(metrics, run.config.steps))

    if args.resume:
        check_out(out)
        found = locate_checkpoint(out / CHECKPOINT)
        if found is None:
            raise ValueError(f"--resume: {out} holds no checkpoint to resume (no {out / CHECKPOINT})")
        if found[1]:
            say(found[1])
        run = trainer_class.resume(out / CHECKPOINT, callback=log, progress=args.progress and world().leader)
        say(f"resuming {out / CHECKPOINT} at step {run.step} of {run.config.steps} with its saved settings")
    else:
        given = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
        if "kinds" in given:
            given["kinds"] = tuple(given["kinds"].split(","))
        if args.command == "grpo":
            given["reward_weights"] = dict(REWARDS[args.reward])
        config = trainer_class.config_class(**given)
        check_out(out)
        if holds_run(out / CHECKPOINT):
            raise ValueError(f"--out={out} already holds a run; pass --resume to continue it, or a new --out")
        progress = args.progress and world().leader
        run = trainer_class(fresh_model(args), config, out_dir=out, callback=log, progress=progress)
    if args.compile:
        compile_model(run.model)
    run.run()
    return run


PIPELINES = {
    "base": "the mini base from scratch: SFT with reasoning, then mostly direct answers",
    "r1-zero": "pure RL from the base (R1 §2.2)",
    "r1": "cold start, reasoning RL, rejection sampling + SFT, final RL (R1 §2.3)",
    "distill": "a dense student: SFT on the teacher's traces vs RL at equal compute (R1 §2.4)",
}


def with_steps(config: Any, steps: int) -> Any:
    """`config` (a pipeline's config or a stage's) with every training stage's steps set to `steps`."""
    if isinstance(config, RunConfig):
        return dataclasses.replace(config, steps=steps)
    stages = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return dataclasses.replace(
        config,
        **{
            name: with_steps(stage, steps)
            for name, stage in stages.items()
            if dataclasses.is_dataclass(stage)
        },
    )


def pipeline(args: argparse.Namespace) -> None:
    """Check what the pipeline needs, then run (or continue) `args.pipeline` in `args.out`."""
    config = {"base": BaseConfig, "r1-zero": r1_zero_config, "r1": R1Config, "distill": DistillConfig}[
        args.pipeline
    ]()
    if args.steps is not None:
        if args.steps < 1:
            raise ValueError(f"--steps={args.steps} must be >= 1")
        config = with_steps(config, args.steps)
    if args.pipeline != "base" and args.init is None:
        raise ValueError(f"pipeline {args.pipeline} starts from a checkpoint: pass --init")
    if args.pipeline == "base" and args.init is not None:
        raise ValueError("pipeline base starts from a fresh --preset model; --init is for the others")
    check_out(Path(args.out))
    runner = Pipeline(args.out, progress=args.progress and world().leader, log=say, compiled=args.compile)
    if args.pipeline == "base":
        torch.manual_seed(0)
        preset = ModelConfig.preset(args.preset)
        runner.base(Transformer(preset.replace(vocab_size=max(preset.vocab_size, VOCAB_SIZE))), config)
        return
    start = load_init(args.init)
    run = {"r1-zero": runner.r1_zero, "r1": runner.r1, "distill": runner.distill}[args.pipeline]
    run(start, config)


def main(argv: list[str] | None = None) -> None:
    """Run the command `argv` names; a problem with its input ends it with one line on stderr and
    exit code 2 (1 for a run that diverged), or with the traceback under --debug."""
    args = parser().parse_args(argv)
    try:
        run_command(args)
    except BrokenPipeError:  # the reader of stdout stopped (e.g. `| head`): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (ValueError, OSError, DivergedError) as e:
        if args.debug:
            raise
        message = " ".join(str(e).split("\n"))
        if world().leader:  # a sharded run's processes fail alike: one line, from rank 0
            print(f"python -m r1mini {args.command}: error: {message}", file=sys.stderr)
        sys.exit(1 if isinstance(e, DivergedError) else 2)


def run_command(args: argparse.Namespace) -> None:
    if args.command == "info":
        if (args.preset is None) == (args.config is None):
            raise ValueError("info takes a preset name or --config PATH/config.json, one of the two")
        if args.config is None:
            print(info(ModelConfig.preset(args.preset)))
        else:
            path = Path(args.config)
            print(info(read_config(path if path.is_dir() else path.parent)[0]))
        return
    init_from_env()  # under `torchrun --nproc-per-node N`: N processes, data (or model) parallel
    with kernels.use(args.kernels):  # before anything imports triton (the interpreter switch)
        if args.command == "pipeline":
            pipeline(args)
        elif args.command == "generate":
            generate_command.run(args)
        else:
            train(args)


def parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per job, each with --debug."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the traceback of an error")
    parser = argparse.ArgumentParser(prog="python -m r1mini", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p_info = commands.add_parser("info", parents=[common], help="parameters, KV cache and memory of a preset")
    p_info.add_argument("preset", nargs="?", choices=ModelConfig.preset_names())
    p_info.add_argument("--config", default=None, help="a published config.json (DeepSeek's format) instead")
    for command, (help_text, trainer_class, names) in TRAINERS.items():
        sub = commands.add_parser(command, parents=[common], help=help_text)
        add_run_flags(sub, trainer_class.config_class, names)
        if command == "grpo":
            sub.add_argument(
                "--reward",
                choices=list(REWARDS),
                default="r1-zero",
                help="r1-zero: accuracy + format; r1: + language consistency",
            )
    p_pipe = commands.add_parser(
        "pipeline", parents=[common], help="R1-Zero, R1 or distillation, stage by stage"
    )
    p_pipe.add_argument(
        "pipeline",
        choices=list(PIPELINES),
        help="; ".join(f"{name}: {text}" for name, text in PIPELINES.items()),
    )
    p_pipe.add_argument("--init", default=None, help="the base (r1-zero, r1) or the teacher (distill)")
    p_pipe.add_argument(
        "--preset",
        default="mini",
        choices=ModelConfig.preset_names(),
        help="the model the base pipeline starts from (default mini)",
    )
    p_pipe.add_argument("--out", required=True, help="pipeline directory; each stage in OUT/<stage>")
    p_pipe.add_argument("--steps", type=int, default=None, help="steps of every training stage (a quick try)")
    p_pipe.add_argument("--progress", action="store_true", help="show progress bars")
    add_kernels_flag(p_pipe)
    add_compile_flag(p_pipe)
    generate_command.add_parser(commands, common)
    add_kernels_flag(commands.choices["generate"])
    return parser


if __name__ == "__main__":
    main(sys.argv[1:])
