"""The model's forward as an ONNX graph: the shipped checkpoints for onnxruntime, in Python or in a
web page (onnxruntime-web), exported from the same PyTorch code.

`torch.onnx.export(..., dynamo=True)` traces `Transformer.forward` with `torch.export` for any
sequence length (batch 1): the model takes its export path while traced (see
`r1mini.model.transformer`: checks that read token values stay with the caller, no KV cache, the
routed experts in their dense form). `Inspected` wraps the forward in `model.recording()` so the
graph also returns what the page draws: each MoE layer's routing (V3 paper §2.1.2, eq. 12-16: the
top-k expert ids and their gate weights) and each layer's attention probabilities (MLA, §2.1.1).
There is no KV cache in the graph: a page recomputes the sequence at every new token, which at the
mini size costs a few milliseconds.

The files are build outputs, never committed: `book/build.sh` runs
`python -m r1mini.viz.live` (which calls `export_onnx`) for the website, and the tests export into
a temporary folder. `onnx_parity` measures how far onnxruntime's outputs are from r1mini's.

    python -m r1mini.io.onnx_export OUT_DIR [--checkpoints r1 r1-zero base]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

from r1mini.model import Transformer

OUTPUTS = ("logits", "expert_ids", "expert_weights", "attention")
MIN_SEQ = 2  # torch.export treats lengths 0 and 1 as special; every prompt has more tokens


class Inspected(nn.Module):
    """`model`'s forward over one sequence, with what it routed and attended.

    forward(tokens [1, T] int64) returns
        logits [1, T, vocab];
        expert_ids [M, T, k] int64 and expert_weights [M, T, k]: each of the M MoE layers' chosen
            experts and gate weights `g_{i,t}` per token;
        attention [L, H, T, T]: each layer's attention probabilities (query, key).
    """

    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        with self.model.recording() as records:
            logits = self.model(tokens, 0, use_cache=False)  # [1, T, V]
        routing = [record["routing"][0] for record in records if record["routing"]]
        ids = torch.stack([r["ids"][0] for r in routing])  # [M, T, k]
        weights = torch.stack([r["weights"][0] for r in routing]).float()  # [M, T, k]
        attention = torch.stack([record["attention"][0][0] for record in records])  # [L, H, T, T]
        return logits.float(), ids, weights, attention.float()


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """Keep the exporter's notes out of the build log: optional operators it skips (torchvision's),
    constant folding it leaves to onnxruntime, deprecations inside torch."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (UserWarning, FutureWarning, DeprecationWarning))
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def export_onnx(model: Transformer, path: str | Path) -> Path:
    """Write `Inspected(model)` to `path` as one self-contained ONNX file (weights inside) whose
    sequence length is dynamic (2 .. max_seq_len); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    example = (torch.arange(16, device=model.device) % model.config.vocab_size)[None]  # [1, 16]
    seq = torch.export.Dim("seq", min=MIN_SEQ, max=model.config.max_seq_len)
    try:
        with torch.no_grad(), quiet_exporter():
            torch.onnx.export(
                Inspected(model).eval(),
                (example,),
                str(path),
                dynamo=True,
                input_names=["tokens"],
                output_names=list(OUTPUTS),
                dynamic_shapes={"tokens": {1: seq}},
                external_data=False,
                optimize=True,
                verbose=False,
            )
    finally:
        model.train(was_training)
    return path


def run_onnx(path: str | Path, tokens: Sequence[int]) -> dict[str, torch.Tensor]:
    """onnxruntime's outputs (CPU) for one sequence of token ids, by name (see `Inspected`)."""
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"tokens": np.asarray([list(tokens)], dtype=np.int64)}  # [1, T]
    return {
        name: torch.from_numpy(value) for name, value in zip(OUTPUTS, session.run(None, feed), strict=True)
    }


@torch.no_grad()
def onnx_parity(model: Transformer, path: str | Path, prompts: Sequence[Sequence[int]]) -> dict[str, float]:
    """The largest difference between onnxruntime's outputs and r1mini's over `prompts` (token-id
    lists): "logits", "expert_weights", "attention" (absolute), and "expert_ids_differ", the share
    of (layer, token) routings whose chosen experts differ (as sets)."""
    was_training = model.training
    model.eval()
    worst = dict.fromkeys(("logits", "expert_weights", "attention", "expert_ids_differ"), 0.0)
    try:
        for prompt in prompts:
            want = dict(zip(OUTPUTS, Inspected(model)(torch.tensor([list(prompt)])), strict=True))
            got = run_onnx(path, prompt)
            for name in ("logits", "expert_weights", "attention"):
                worst[name] = max(worst[name], (got[name] - want[name].cpu()).abs().max().item())
            same = (got["expert_ids"].sort(-1).values == want["expert_ids"].cpu().sort(-1).values).all(-1)
            worst["expert_ids_differ"] = max(worst["expert_ids_differ"], 1 - same.float().mean().item())
    finally:
        model.train(was_training)
    return worst


def main(argv: Sequence[str] | None = None) -> None:
    from r1mini.io.checkpoint import SHIPPED, load

    parser = argparse.ArgumentParser(
        prog="python -m r1mini.io.onnx_export", description=__doc__.split("\n")[0]
    )
    parser.add_argument("out", type=Path, help="folder for NAME.onnx")
    parser.add_argument("--checkpoints", nargs="+", default=["r1", "r1-zero", "base"], help="shipped names")
    args = parser.parse_args(argv)
    for name in args.checkpoints:
        start = time.perf_counter()
        path = export_onnx(load(SHIPPED / name), args.out / f"{name}.onnx")
        size = path.stat().st_size / 2**20
        print(f"exported {name} to {path}: {size:.2f} MiB in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
