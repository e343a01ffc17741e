"""A published checkpoint, resident and streamed: load time, prefill, greedy decode, memory.

`python -m r1mini.bench pretrained` writes a checkpoint in DeepSeek's published format (FP8, shards)
from the shipped `r1` (or `--checkpoint`) into a temporary directory, then times, side by side:
loading it (`load_pretrained`), a batch-1 prefill of `--prompt` tokens, and `--new` greedily
decoded tokens, once with every weight resident and once streamed (`stream=True`: each block read
from the shards for its forward, then freed). It reports the peak bytes of weights held at once
(`WeightStream.peak_bytes`) against the whole model. Streaming costs a read of every block per
forward, so its decode rate is what the page cache and the disk allow; on the 671B model each
token reads the whole ~690 GB checkpoint.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

import torch

from r1mini.accounting import human
from r1mini.io import load, load_pretrained, save_published
from r1mini.reasoning.generate import generate


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", default="assets/checkpoints/r1", help="an r1mini checkpoint")
    parser.add_argument("--prompt", type=int, default=64, help="prompt tokens")
    parser.add_argument("--new", type=int, default=32, help="greedily decoded tokens")
    parser.add_argument("--repeats", type=int, default=3, help="runs per time; the best is shown")


def best_of(repeats: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(directory: str, streamed: bool, args: argparse.Namespace) -> tuple[float, float, float, int]:
    """(load s, prefill s, decode tokens/s, weight bytes held at the peak) of one way to load."""
    prompt = [list(range(3, 3 + args.prompt))]
    load_s = best_of(args.repeats, lambda: load_pretrained(directory, dtype=torch.float32, stream=streamed))
    model = load_pretrained(directory, dtype=torch.float32, stream=streamed)
    with torch.no_grad():
        prefill_s = best_of(args.repeats, lambda: model(torch.tensor(prompt)))
    decode_s = best_of(args.repeats, lambda: generate(model, prompt, args.new, temperature=0, stop_ids=()))
    tensors = [*model.parameters(), *model.buffers()]
    held = model.weight_stream.peak_bytes if streamed else sum(t.numel() * t.element_size() for t in tensors)
    return load_s, prefill_s, args.new / decode_s, held


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as directory:
        save_published(load(args.checkpoint), directory, fp8=True, max_shard_bytes=1 << 20)
        rows = {name: measure(directory, name == "streamed", args) for name in ("resident", "streamed")}
    threads = torch.get_num_threads()
    print(f"{args.checkpoint} published (FP8 on disk, fp32 in memory), batch 1, {threads} threads")
    print(
        f"{'weights':<10}{'load s':>9}{f'prefill {args.prompt} tok, ms':>22}{'decode tok/s':>14}{'held':>12}"
    )
    for name, (load_s, prefill_s, rate, held) in rows.items():
        print(f"{name:<10}{load_s:>9.3f}{prefill_s * 1e3:>22.1f}{rate:>14.1f}{human(held, 'B'):>12}")
    resident, streamed = rows["resident"], rows["streamed"]
    ratios = f"decode {streamed[2] / resident[2]:.2f}x, weights held {streamed[3] / resident[3]:.2f}x"
    print(f"streamed / resident: {ratios}")
