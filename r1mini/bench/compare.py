"""r1mini side by side with `transformers` and TRL on the same weights, phase by phase.

`python -m r1mini.bench compare`. The checkpoint (default: the shipped `r1-zero`) runs in r1mini
and, exported with `to_transformers`, as `transformers`' `DeepseekV3ForCausalLM` (its defaults:
SDPA attention, grouped-matmul experts), both in fp32 on `--threads` threads:

* train: one AdamW step on a batch of SFT examples (the masked next-token cross-entropy of
  `r1mini.training.trainer`, no MTP), from the same weights and batch, with PyTorch's fused AdamW
  on both sides (what r1mini's trainers and transformers' `Trainer` use by default);
* prefill: a batch of left-padded prompts through the model, filling the KV cache;
* decode: greedy generation of `--new` tokens after each prompt (prefill included), at batch 64 and
  batch 1, with no stop token, so both sides make the same number of tokens; they must be the same
  tokens;
* grpo: one GRPO step of r1mini's `GRPOTrainer` against TRL's `GRPOTrainer` (`trl_grpo.py`: same
  prompts, group size, budget, reward and loss), when TRL is installed
  (`pip install -e ".[compare]"`); skipped with a message otherwise.

Each phase is timed in interleaved rounds (`rounds.py`): the contenders alternate order, a round
that other processes disturbed is run again or left out, and the table shows medians of the clean
rounds and the speed-up, peer time / r1mini time. Before timing, the phase checks that both sides
compute the same thing (logits, losses, tokens) and prints what it found.

`--compile` runs r1mini's model under `torch.compile` (`r1mini.model.compiled`); each phase's
check and warm-up calls compile it, before any round is timed (the peers stay eager, as their
defaults are).

`--profile N` then shows where r1mini's side of each phase (not GRPO) spends its time: one call
under PyTorch's profiler, its ATen calls, the N ops with the most CPU time of their own, and for
the train step the forward, backward and optimizer shares (r1mini/kernels/PERF.md reads them).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from r1mini.bench.rounds import Timings, interleave, measure
from r1mini.io.checkpoint import SHIPPED, load
from r1mini.model import Transformer, compile_model
from r1mini.reasoning.dataset import generate_tasks
from r1mini.reasoning.generate import generate
from r1mini.reasoning.rewards import R1_ZERO_WEIGHTS
from r1mini.reasoning.template import encode_prompt
from r1mini.reasoning.tokenizer import PAD_ID
from r1mini.training.data import TaskBatches, sample_tasks
from r1mini.training.grpo import GRPOConfig, GRPOTrainer
from r1mini.training.pipeline import DIFFICULTY
from r1mini.training.trainer import masked_cross_entropy

CHECKPOINT = SHIPPED / "r1-zero"
PHASES = ("train", "prefill", "decode64", "decode1", "grpo")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", default=str(CHECKPOINT), help="r1mini checkpoint directory")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, from {PHASES}")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per contender and phase")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--attn-impl", default="auto", choices=("auto", "naive", "absorb"), help="r1mini's MLA"
    )
    parser.add_argument("--batch", type=int, default=32, help="SFT examples in the train step")
    parser.add_argument("--prompts", type=int, default=64, help="prompts in the prefill and batch decode")
    parser.add_argument("--new", type=int, default=64, help="greedy tokens per prompt in decode")
    parser.add_argument("--group", type=int, default=8, help="GRPO responses per question (8 questions)")
    parser.add_argument("--grpo-new", type=int, default=96, help="GRPO response budget in tokens")
    parser.add_argument("--min-round", type=float, default=1.0, help="seconds a round lasts at least")
    parser.add_argument(
        "--profile", type=int, default=0, help="after timing, show r1mini's N costliest ops per phase"
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="run r1mini's model under torch.compile (r1mini.model.compiled; compiling is not timed)",
    )
    parser.add_argument(
        "--max-others",
        type=float,
        default=0.05,
        help="share of the machine's CPU that other processes may use in a round before it is disturbed",
    )


@dataclass
class Row:
    """One phase's result: per-call times of both sides, what a call does, and the check."""

    phase: str
    peer: str
    ours: Timings
    theirs: Timings
    reps: int  # calls per round
    check: str

    def cells(self) -> list[str]:
        ours, theirs = self.ours.median / self.reps, self.theirs.median / self.reps
        clean = min(len(self.ours.clean), len(self.theirs.clean))
        checked = "" if self.ours.checked and self.theirs.checked else " (unchecked)"
        return [
            self.phase,
            seconds(ours),
            f"{seconds(theirs)} ({self.peer})",
            f"{theirs / ours:.2f}x",
            f"{clean}/{len(self.ours.samples)}{checked}",
            self.check,
        ]


def seconds(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def models(args: argparse.Namespace) -> tuple[Transformer, Any]:
    """Fresh copies of the checkpoint: r1mini's (with `--attn-impl`) and transformers' export."""
    from r1mini.io import to_transformers

    trained = load(args.checkpoint)
    ours = trained.clone(args.attn_impl)
    if args.compile:
        torch.compiler.reset()  # each phase compiles afresh, within torch's limit of recompiles
        if not compile_model(ours):
            raise SystemExit("--compile: torch.compile cannot run here (the warning above says why)")
    return ours, to_transformers(trained)


def left_padded(prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, P] prompts padded on the left with `<pad>`, and the [B, P] bool mask of real tokens."""
    length = max(map(len, prompts))
    tokens = torch.full((len(prompts), length), PAD_ID, dtype=torch.long)
    mask = torch.zeros(len(prompts), length, dtype=torch.bool)
    for row, prompt in enumerate(prompts):
        tokens[row, length - len(prompt) :] = torch.tensor(prompt)
        mask[row, length - len(prompt) :] = True
    return tokens, mask


def timed(
    phase: str, peer: str, ours: Callable, theirs: Callable, args: argparse.Namespace, check: str
) -> Row:
    """Warm both up, repeat each call enough times for a round to last `--min-round` seconds on
    the faster side, and time interleaved rounds."""
    fastest = min(measure(ours).seconds, measure(theirs).seconds)
    reps = max(1, math.ceil(args.min_round / fastest))

    def repeat(fn: Callable) -> Callable[[], None]:
        def run() -> None:
            for _ in range(reps):
                fn()

        return run

    times = interleave(
        {"r1mini": repeat(ours), peer: repeat(theirs)}, args.rounds, max_others=args.max_others
    )
    if args.profile:
        print(profiled(phase, ours, args.profile))
    return Row(phase, peer, times["r1mini"], times[peer], reps, check)


PARTS = ("forward", "backward", "optimizer")  # the train step's parts, labelled for the profiler


def profiled(phase: str, fn: Callable, top: int) -> str:
    """Where one call of `fn` (r1mini's side of `phase`) spends its CPU time, by PyTorch's
    profiler: its ATen calls, the `top` ops by CPU time of their own (share of the call's), and
    the CPU time of each labelled part (`PARTS`) the call runs."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)  # µs
    calls = sum(e.count for e in events if e.key.startswith("aten::"))
    lines = [f"{phase}, r1mini, one call under the profiler: {total / 1e3:.1f} ms CPU, {calls} ATen calls"]
    parts = {e.key: e.cpu_time_total for e in events if e.key in PARTS}
    if parts:
        lines.append("  " + ", ".join(f"{k} {v / total:.0%}" for k, v in parts.items()))
    ops = sorted((e for e in events if e.key not in PARTS), key=lambda e: -e.self_cpu_time_total)[:top]
    lines += [f"  {e.key:<52} {e.self_cpu_time_total / total:6.1%} {e.count:6d} calls" for e in ops]
    return "\n".join(lines)


def train_phase(args: argparse.Namespace) -> Row:
    ours, theirs = models(args)
    batch = TaskBatches(("arithmetic",), args.batch, difficulty=DIFFICULTY)(0)
    tokens, weights = batch.tokens, batch.weights  # [B, T]
    losses: dict[str, float] = {}  # each side's loss at its latest step

    def step(name: str, model: torch.nn.Module, logits: Callable[[torch.Tensor], torch.Tensor]) -> Callable:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
        model.train()

        def run() -> None:
            optimizer.zero_grad(set_to_none=True)
            with record_function("forward"):
                loss = masked_cross_entropy(logits(tokens)[:, :-1], tokens[:, 1:], weights[:, 1:])
            with record_function("backward"):
                loss.backward()
            with record_function("optimizer"):
                optimizer.step()
            losses[name] = loss.item()

        return run

    ours_step = step("r1mini", ours, ours)
    theirs_step = step("transformers", theirs, lambda t: theirs(input_ids=t).logits)
    ours_step()
    theirs_step()
    check = f"first loss differs by {abs(losses['r1mini'] - losses['transformers']):.1e}"
    shape = "x".join(map(str, tokens.shape))
    return timed(f"train step ({shape})", "transformers", ours_step, theirs_step, args, check)


def prompts_of(n: int) -> list[list[int]]:
    return [encode_prompt(task.prompt) for task in generate_tasks("arithmetic", n, 0, "test", DIFFICULTY)]


def prefill_phase(args: argparse.Namespace) -> Row:
    ours, theirs = models(args)
    ours.eval()
    tokens, mask = left_padded(prompts_of(args.prompts))

    @torch.no_grad()
    def ours_prefill() -> torch.Tensor:
        ours.reset_cache()
        return ours(tokens, attention_mask=mask)

    @torch.no_grad()
    def theirs_prefill() -> torch.Tensor:
        return theirs(input_ids=tokens, attention_mask=mask, use_cache=True).logits

    difference = (ours_prefill() - theirs_prefill())[mask].abs().max().item()
    check = f"largest logit difference {difference:.1e}"
    shape = "x".join(map(str, tokens.shape))
    return timed(f"prefill ({shape})", "transformers", ours_prefill, theirs_prefill, args, check)


def decode_phase(args: argparse.Namespace, batch: int) -> Row:
    from transformers import GenerationConfig

    ours, theirs = models(args)
    prompts = prompts_of(args.prompts)[:batch]
    tokens, mask = left_padded(prompts)
    greedy = GenerationConfig(
        max_new_tokens=args.new, do_sample=False, eos_token_id=None, pad_token_id=PAD_ID
    )  # no stop token: both sides make every token

    def ours_decode() -> torch.Tensor:
        return generate(ours, prompts, args.new, temperature=0, stop_ids=()).tokens[:, tokens.shape[1] :]

    @torch.no_grad()
    def theirs_decode() -> torch.Tensor:
        out = theirs.generate(input_ids=tokens, attention_mask=mask, generation_config=greedy)
        return out[:, tokens.shape[1] :]

    same = (ours_decode() == theirs_decode()).float().mean().item()
    check = "tokens identical" if same == 1 else f"tokens differ: {1 - same:.1%} of them"
    phase = f"greedy decode b{batch} ({args.new} new)"
    return timed(phase, "transformers", ours_decode, theirs_decode, args, check)


def grpo_phase(args: argparse.Namespace) -> Row | str:
    try:
        from r1mini.bench.trl_grpo import StepHooks, trl_grpo_trainer
    except ImportError as error:
        return f"grpo: skipped, TRL is not installed ({error.name}): pip install -e '.[compare]'"
    from r1mini.bench.rounds import Stopwatch

    prompts_per_step, steps = 8, args.rounds + 1  # step 0 warms both up and is not timed
    tasks = [
        task
        for step in range(steps)
        for task in sample_tasks(("arithmetic",), prompts_per_step, 0, step, "train", DIFFICULTY)
    ]
    config = GRPOConfig(
        steps=steps,
        prompts_per_step=prompts_per_step,
        group_size=args.group,
        max_new_tokens=args.grpo_new,
        lr=3e-5,
        warmup_steps=0,
        beta=0.04,
        clip_eps=0.2,
        loss_type="grpo",
        difficulty=DIFFICULTY,
        reward_weights=dict(R1_ZERO_WEIGHTS),
    )
    ours_model, _ = models(args)
    ours = GRPOTrainer(
        ours_model,
        config,
        prompts=lambda step: tasks[step * prompts_per_step : (step + 1) * prompts_per_step],
        progress=False,
    )
    times = {"r1mini": Timings(args.max_others), "TRL": Timings(args.max_others)}
    watch = Stopwatch()
    lengths: dict[str, list[float]] = {"r1mini": [], "TRL": []}

    def ours_step(step: int) -> None:
        sample = measure(lambda: ours.run(1))
        lengths["r1mini"].append(ours.history[-1]["generated_tokens"] / (prompts_per_step * args.group))
        if step > 0:
            times["r1mini"].samples.append(sample)

    def before(step: int) -> None:  # odd steps: r1mini first, then TRL
        if step % 2:
            ours_step(step)
        watch.start()

    def after(step: int) -> None:  # even steps: TRL first, then r1mini
        sample = watch.stop()
        if step > 0:
            times["TRL"].samples.append(sample)
        if step % 2 == 0:
            ours_step(step)

    with warnings.catch_warnings():  # TRL still uses names that transformers 5 deprecates
        warnings.simplefilter("ignore", FutureWarning)
        theirs = trl_grpo_trainer(
            ours_model.clone(),
            tasks,
            prompts_per_step=prompts_per_step,
            group_size=args.group,
            max_new_tokens=args.grpo_new,
            lr=config.lr,
            beta=config.beta,
            clip_eps=config.clip_eps,
            reward_weights=config.reward_weights,
            template=config.template,
            steps=steps,
            lengths=lengths["TRL"],
            callbacks=[StepHooks(before, after)],
        )
        theirs.train()
    mean = {name: sum(values) / len(values) for name, values in lengths.items()}
    check = f"mean response {mean['r1mini']:.1f} vs {mean['TRL']:.1f} tokens"
    phase = f"GRPO step (8x{args.group}, <={args.grpo_new} new)"
    return Row(phase, "TRL", times["r1mini"], times["TRL"], 1, check)


def versions() -> str:
    names = ("torch", "transformers", "trl")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} absent")
    return ", ".join(found)


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def run(args: argparse.Namespace) -> None:
    phases = args.phases.split(",")
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise ValueError(f"--phases has {unknown}; choose from {PHASES}")
    for flag in ("rounds", "threads", "batch", "prompts", "new", "group", "grpo_new"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')}={getattr(args, flag)} must be at least 1")
    if args.profile < 0:
        raise ValueError(f"--profile={args.profile} must be >= 0 (0: no profile)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    print(
        f"{now}; {cpu_model()}, {torch.get_num_threads()} threads of {os.cpu_count()} CPUs; {versions()}; "
        f"fp32; {args.checkpoint} (attn_impl={args.attn_impl})"
        + ("; r1mini under torch.compile, compiled before timing" if args.compile else "")
    )
    rows: list[list[str]] = []
    for phase in phases:
        if phase == "train":
            result: Row | str = train_phase(args)
        elif phase == "prefill":
            result = prefill_phase(args)
        elif phase.startswith("decode"):
            result = decode_phase(args, int(phase.removeprefix("decode")))
        else:
            result = grpo_phase(args)
        if isinstance(result, str):
            print(result)
        else:
            rows.append(result.cells())
            print(" | ".join(rows[-1]), flush=True)
    header = [
        "phase",
        "r1mini compiled" if args.compile else "r1mini",
        "peer",
        "speed-up",
        "clean rounds",
        "check",
    ]
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
