"""A live expert-parallel run, measured: what chapter 11 shows next to the serving arithmetic.

`measure_expert_parallel(checkpoint, prompts, world_size)` spawns `world_size` processes (gloo, this
machine), shards the checkpoint's model over them (`shard_model`), answers the prompts greedily,
and returns what each process saw: the experts it holds, the (token, expert) pairs each of them
computed, the tokens it dispatched, the bytes it sent in each direction, the bytes its KV cache holds per
token, and the answers (the same on every process, and the same as one process's).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from r1mini.io.checkpoint import load
from r1mini.parallel.shard import expert_parallel_layers, shard_model
from r1mini.parallel.world import World, spawn
from r1mini.reasoning.generate import generate
from r1mini.reasoning.template import decode_response, encode_prompt
from r1mini.reasoning.tokenizer import VOCAB_SIZE


@torch.no_grad()
def cache_bytes_per_token(model: torch.nn.Module, prompt: list[int]) -> float:
    """Bytes this process's KV cache holds per token, over all layers, after a prefill of `prompt`."""
    model.reset_cache()
    model(torch.tensor([prompt]))
    held = sum(buf[:, : len(prompt)].nbytes for layer in model.layers for buf in layer.attn.cache.values())
    return held / len(prompt)


def _run(rank: int, size: int, checkpoint: str, prompts: list[str], max_new_tokens: int, out: str) -> None:
    model = shard_model(load(checkpoint).eval(), World(rank, size))
    ids = [encode_prompt(prompt) for prompt in prompts]
    result = generate(model, ids, max_new_tokens, temperature=0, vocab_limit=VOCAB_SIZE)
    layers = expert_parallel_layers(model.layers)  # the MTP module does not run
    record = {
        "rank": rank,
        "experts": list(range(layers[0].experts.start, layers[0].experts.stop)),
        "load": [layer.load.tolist() for layer in layers],  # [MoE layers][local experts]
        "traffic": [dict(layer.traffic) for layer in layers],
        "answers": [decode_response(g) for g in result.generated],
        "cache_bytes_per_token": cache_bytes_per_token(model, ids[0]),
    }
    (Path(out) / f"rank{rank}.json").write_text(json.dumps(record))


def measure_expert_parallel(
    checkpoint: str | Path, prompts: list[str], world_size: int, max_new_tokens: int = 64
) -> list[dict[str, Any]]:
    """One record per process (see the module docstring), in rank order."""
    with tempfile.TemporaryDirectory() as out:
        spawn(_run, world_size, str(checkpoint), list(prompts), max_new_tokens, out)
        return [json.loads((Path(out) / f"rank{r}.json").read_text()) for r in range(world_size)]
