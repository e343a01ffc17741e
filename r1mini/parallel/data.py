"""Data parallelism for the trainers: each process takes an equal slice of the global batch, and
PyTorch's `DistributedDataParallel` averages the gradients, so every process keeps the same model.

A run with `w` processes gives the result of one process with the same global batch:

* the slice: process r takes rows `r·B/w … (r+1)·B/w` of the global batch (GRPO: whole prompts,
  each with its G responses, so a group's advantages never cross processes), and every random draw
  comes from seeds of (step, row), never of the process;
* the loss: DDP averages the processes' gradients, so a loss that is a mean over the whole batch is
  computed locally as `local mean · global_share(local count)` (`w · local / global`), which makes
  the average of the processes' losses the global mean. Means over sequences need no share when
  every process holds as many sequences;
* auxiliary-loss-free balancing (V3 §2.1.2) counts each expert's load over the global batch:
  the processes sum their counts (`sum_expert_loads`) before each bias update;
* metrics are averaged (counts summed) over the processes; checkpoints are written by process 0
  alone, and every process reads them back to resume.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from r1mini.parallel.world import World, world

COUNTS = ("tokens", "generated_tokens", "tokens_per_s")  # summed over the processes, not averaged


class Step(nn.Module):
    """The part of a training step whose gradients are averaged: DDP sees `model`'s parameters
    and runs `fn(*args)` as its forward."""

    def __init__(self, model: nn.Module, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.model, self.fn = model, fn

    def forward(self, *args: Any) -> Any:
        return self.fn(*args)


def data_parallel(model: nn.Module, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` as a data-parallel step of `model` in a world of several processes (`fn` itself in a
    world of one). Parameters unused by a step (the MTP module under GRPO) are allowed; the
    routers' load counters are not broadcast (each process counts its own tokens)."""
    if world().size == 1:
        return fn
    options = inspect.signature(DistributedDataParallel).parameters  # the option's name since torch 2.12
    no_sync = {"forward_sync_buffers" if "forward_sync_buffers" in options else "broadcast_buffers": False}
    return DistributedDataParallel(Step(model, fn), find_unused_parameters=True, **no_sync)


def local_rows(total: int, what: str) -> slice:
    """This process's contiguous share of `total` rows (or prompts)."""
    w = world()
    if total % w.size:
        raise ValueError(f"{what}={total} must be a multiple of the {w.size} processes")
    size = total // w.size
    return slice(w.rank * size, (w.rank + 1) * size)


def global_share(local_count: float | torch.Tensor) -> float:
    """`w · local / global` for a count (e.g. of target tokens): the factor that turns this
    process's mean into its share of the global mean once DDP averages the processes."""
    w = world()
    if w.size == 1:
        return 1.0
    total = torch.tensor(float(local_count), dtype=torch.float64)
    dist.all_reduce(total)
    return w.size * float(local_count) / max(float(total), 1.0)


def global_max(value: int) -> int:
    """The largest of the processes' `value`s (e.g. the longest response of the global batch)."""
    if world().size == 1:
        return value
    t = torch.tensor(value)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t)


def sum_expert_loads(model: nn.Module) -> None:
    """Sum every router's token counts over the processes (the global load of each expert)."""
    if world().size == 1:
        return
    for module in model.modules():
        load = getattr(module, "load", None)
        if isinstance(load, torch.Tensor) and hasattr(module, "update_bias"):
            dist.all_reduce(load)


def reduce_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The processes' metrics as one run's: numbers averaged, `COUNTS` summed, lists averaged
    element by element; other values as process 0 has them."""
    w = world()
    if w.size == 1:
        return metrics
    out = dict(metrics)
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, list)) or key == "step":
            continue
        t = torch.tensor(value, dtype=torch.float64)
        dist.all_reduce(t)
        if key not in COUNTS:
            t /= w.size
        out[key] = t.tolist() if isinstance(value, list) else type(value)(t.item())
    return out


def barrier() -> None:
    if world().size > 1:
        dist.barrier()


def is_leader() -> bool:
    return world().leader


__all__ = [
    "World",
    "barrier",
    "data_parallel",
    "global_max",
    "global_share",
    "is_leader",
    "local_rows",
    "reduce_metrics",
    "sum_expert_loads",
]
