"""Generation speed with and without the KV cache, naive vs absorbed vs auto MLA, and the cache it costs.

`python -m r1mini.bench generate`. Without a cache every new token reruns the whole sequence;
with one (V3 paper §2.1.1: only `c^{KV}_t` and `k^R_t` need caching for generation) each step
runs one position per sequence against the cached keys. Tokens/s counts generated tokens, prefill
included, with greedy decoding and no stop token, so every run makes the same number of tokens;
each rate is the best of `--repeats` runs, the same number for both sides.
Cache bytes per token are
measured from the filled part of every layer's cache tensors after a cached run, next to
`kv_cache_bytes_per_token` (fp32).
"""

from __future__ import annotations

import argparse
import time

import torch

from r1mini import ModelConfig, Transformer, kv_cache_bytes_per_token
from r1mini.io.checkpoint import load
from r1mini.reasoning.generate import generate

ACCOUNTED = {
    "absorb": "absorbed_mla",
    "naive": "naive_mla",
    "auto": "absorbed_mla",
}  # attn_impl -> accounting's name


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="mini", help="model preset (random init)")
    parser.add_argument("--checkpoint", default=None, help="load this checkpoint directory instead")
    parser.add_argument("--batches", default="1,64", help="comma-separated batch sizes")
    parser.add_argument("--prompt", type=int, default=32, help="prompt tokens per sequence")
    parser.add_argument("--new", type=int, default=128, help="generated tokens per sequence")
    parser.add_argument("--repeats", type=int, default=2, help="runs per rate; the best is shown")


def build(args: argparse.Namespace, attn_impl: str) -> Transformer:
    """The benchmarked model with `attn_impl`: random init of the preset, or the checkpoint."""
    torch.manual_seed(0)
    if args.checkpoint is None:
        return Transformer(ModelConfig.preset(args.preset, attn_impl=attn_impl))
    return load(args.checkpoint).clone(attn_impl)


def cache_bytes_per_token(model: Transformer, batch: int) -> float:
    """Bytes of the filled part of every layer's cache, per cached token."""
    filled = 0
    for layer in model.layers:
        length = layer.attn.cache_len
        filled += sum(buf[:, :length].nbytes for buf in layer.attn.cache.values())
    return filled / (batch * model.layers[0].attn.cache_len)


def tokens_per_second(model: Transformer, batch: int, args: argparse.Namespace, use_cache: bool) -> float:
    """Generated tokens per second, best of `args.repeats` runs: `batch` random prompts of
    `args.prompt` tokens, `args.new` new tokens each."""
    rng = torch.Generator().manual_seed(0)
    shape = (batch, args.prompt)
    prompts = torch.randint(3, model.config.vocab_size, shape, generator=rng).tolist()
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        generate(model, prompts, args.new, temperature=0, stop_ids=(), use_cache=use_cache)
        seconds.append(time.perf_counter() - start)
    return batch * args.new / min(seconds)


def run(args: argparse.Namespace) -> None:
    if args.repeats < 1:
        raise ValueError(f"--repeats={args.repeats} must be at least 1")
    batches = [int(b) for b in args.batches.split(",")]
    header = (
        f"{'attn':<8}{'batch':>6}{'cached tok/s':>14}{'uncached tok/s':>16}{'speedup':>9}"
        f"{'cache B/token':>15}{'accounted':>11}"
    )
    source = args.preset if args.checkpoint is None else args.checkpoint
    print(f"{source}: prompt {args.prompt} tokens, {args.new} new tokens per sequence, greedy")
    print(header)
    print("-" * len(header))
    for attn_impl in ("naive", "absorb", "auto"):
        model = build(args, attn_impl)
        accounted = kv_cache_bytes_per_token(model.config, bytes_per_element=4)
        generate(model, [[3] * args.prompt], 4, temperature=0)  # warm-up
        for batch in batches:
            cached = tokens_per_second(model, batch, args, use_cache=True)
            measured = cache_bytes_per_token(model, batch)
            uncached = tokens_per_second(model, batch, args, use_cache=False)
            print(
                f"{attn_impl:<8}{batch:>6}{cached:>14,.0f}{uncached:>16,.0f}"
                f"{cached / uncached:>8.1f}x{measured:>15,.0f}{accounted[ACCOUNTED[attn_impl]]:>11,}"
            )
