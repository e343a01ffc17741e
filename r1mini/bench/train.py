"""Training speed: SFT tokens/s and GRPO steps/min on the mini model.

`python -m r1mini.bench train`. The SFT row times `--sft-steps` steps of `Trainer` (batches of
`--batch-size` arithmetic examples, MTP on, bias update on) after one warm-up step; tokens/s counts
the tokens the model reads (padding excluded). The GRPO row times `--grpo-steps` steps of
`GRPOTrainer` with `--prompts` questions × `--group` responses of at most `--new` tokens each;
a step is sampling, rewards, reference log-probs and one policy update. A random-init model writes
responses of arbitrary length, so the mean response length is printed beside the rate.
"""

from __future__ import annotations

import argparse
import time

import torch

from r1mini import ModelConfig, Transformer
from r1mini.io.checkpoint import load
from r1mini.reasoning.tokenizer import VOCAB_SIZE
from r1mini.training import GRPOConfig, GRPOTrainer, TrainConfig, Trainer


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="mini", help="model preset (random init)")
    parser.add_argument("--checkpoint", default=None, help="load this checkpoint directory instead")
    parser.add_argument("--sft-steps", type=int, default=50, help="timed SFT steps")
    parser.add_argument("--batch-size", type=int, default=32, help="SFT examples per step")
    parser.add_argument("--grpo-steps", type=int, default=10, help="timed GRPO steps")
    parser.add_argument("--prompts", type=int, default=8, help="GRPO questions per step")
    parser.add_argument("--group", type=int, default=8, help="GRPO responses per question")
    parser.add_argument("--new", type=int, default=96, help="GRPO max new tokens per response")
    parser.add_argument("--attn-impl", default="auto", choices=("auto", "naive", "absorb"), help="MLA's path")


def build(args: argparse.Namespace) -> Transformer:
    torch.manual_seed(0)
    if args.checkpoint is not None:
        return load(args.checkpoint).clone(args.attn_impl)
    config = ModelConfig.preset(args.preset, attn_impl=args.attn_impl)
    return Transformer(config.replace(vocab_size=max(config.vocab_size, VOCAB_SIZE)))


def run(args: argparse.Namespace) -> None:
    for flag in ("sft_steps", "batch_size", "grpo_steps", "prompts", "new"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')}={getattr(args, flag)} must be at least 1")
    source = args.preset if args.checkpoint is None else args.checkpoint
    print(f"{source}: {torch.get_num_threads()} threads")
    header = f"{'trainer':<8}{'batch':>10}{'steps':>7}{'seconds':>9}{'rate':>16}{'mean response':>15}"
    print(header)
    print("-" * len(header))

    config = TrainConfig(steps=args.sft_steps + 1, batch_size=args.batch_size)
    sft = Trainer(build(args), config, progress=False)
    sft.run(1)  # warm-up
    start = time.perf_counter()
    history = sft.run()[1:]
    seconds = time.perf_counter() - start
    tokens = sum(m["tokens"] for m in history)
    print(f"{'SFT':<8}{args.batch_size:>10}{len(history):>7}{seconds:>9.1f}{tokens / seconds:>10,.0f} tok/s")

    grpo_config = GRPOConfig(
        steps=args.grpo_steps + 1,
        prompts_per_step=args.prompts,
        group_size=args.group,
        max_new_tokens=args.new,
    )
    grpo = GRPOTrainer(build(args), grpo_config, progress=False)
    grpo.run(1)  # warm-up
    start = time.perf_counter()
    history = grpo.run()[1:]
    seconds = time.perf_counter() - start
    length = sum(m["response_length"] for m in history) / len(history)
    batch = f"{args.prompts}x{args.group}"
    print(
        f"{'GRPO':<8}{batch:>10}{len(history):>7}{seconds:>9.1f}{60 * len(history) / seconds:>9.1f} steps/min"
        f"{length:>15.1f}"
    )
