"""Tensor parallelism: one matrix multiplication split over the processes (Megatron-LM's
column- and row-parallel linears, as DeepSeek's `inference/model.py` serves V3).

* `ColumnParallelLinear` keeps a contiguous slice of the output rows of `W` (`[out/w, in]`): the
  input is the same everywhere, each process computes its slice of the output.
* `RowParallelLinear` keeps the matching slice of the input columns (`[out, in/w]`): each process
  multiplies its slice of the input and an all-reduce sums the partial products, so every process
  ends with the whole output.
* A column-parallel layer followed by a row-parallel one (attention's up-projections then `wo`,
  a SwiGLU's `w1`/`w3` then `w2`) needs one all-reduce in all.
* `VocabParallelEmbedding` keeps a slice of the vocabulary's rows: a process looks up the ids it
  holds, zeros for the others, and an all-reduce assembles every embedding; `VocabParallelHead`
  scores its slice of the vocabulary and an all-gather puts the logits side by side.

These layers serve inference (`torch.no_grad`): training splits the data instead
(`r1mini.parallel.data`). Their weights keep the names of the layers they replace (`weight`),
and `shard` = (dimension, slice) says which part of the full tensor they hold, so that a loader
reads only that part (`r1mini.io.load_pretrained(..., world=...)`).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from r1mini.parallel.world import World


def split(total: int, parts: int, index: int, what: str) -> slice:
    """The `index`-th of `parts` equal contiguous slices of `range(total)`."""
    if total % parts:
        raise ValueError(f"{what}={total} does not split evenly over {parts} processes")
    size = total // parts
    return slice(index * size, (index + 1) * size)


def _inference_only(x: torch.Tensor) -> None:
    if torch.is_grad_enabled() and x.requires_grad:
        raise RuntimeError("tensor-parallel layers serve inference; train with data parallelism")


class ColumnParallelLinear(nn.Module):
    """`y_local = x W[rows]ᵀ`: weight [out/w, in], output [..., out/w]."""

    def __init__(self, linear: nn.Linear, world: World, rows: slice) -> None:
        super().__init__()
        self.rows, self.shard = rows, (0, rows)
        self.weight = nn.Parameter(linear.weight[rows].detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


class RowParallelLinear(nn.Module):
    """`y = Σ_processes x_local W[:, cols]ᵀ`: weight [out, in/w], input [..., in/w], output [..., out]
    on every process (all-reduce)."""

    def __init__(self, linear: nn.Linear, world: World, cols: slice) -> None:
        super().__init__()
        self.cols, self.world, self.shard = cols, world, (1, cols)
        self.weight = nn.Parameter(linear.weight[:, cols].detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _inference_only(x)
        y = F.linear(x, self.weight)
        if self.world.size > 1:
            dist.all_reduce(y)
        return y


class VocabParallelEmbedding(nn.Module):
    """The embedding rows `rows` of the vocabulary; ids outside it contribute zeros."""

    def __init__(self, embedding: nn.Embedding, world: World, rows: slice) -> None:
        super().__init__()
        self.rows, self.world, self.shard = rows, world, (0, rows)
        self.weight = nn.Parameter(embedding.weight[rows].detach().clone(), requires_grad=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: [B, T] global ids -> [B, T, dim] on every process."""
        mine = (tokens >= self.rows.start) & (tokens < self.rows.stop)  # [B, T]
        local = torch.where(mine, tokens - self.rows.start, torch.zeros_like(tokens))
        h = F.embedding(local, self.weight) * mine[..., None]  # [B, T, dim], zeros elsewhere
        if self.world.size > 1:
            dist.all_reduce(h)
        return h


class VocabParallelHead(nn.Module):
    """The output head's rows `rows`: local logits [..., V/w], gathered into [..., V]."""

    def __init__(self, head: nn.Linear, world: World, rows: slice) -> None:
        super().__init__()
        self.rows, self.world, self.shard = rows, world, (0, rows)
        self.weight = nn.Parameter(head.weight[rows].detach().clone(), requires_grad=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        _inference_only(h)
        local = F.linear(h, self.weight).contiguous()  # [..., V/w]
        if self.world.size == 1:
            return local
        parts = [torch.empty_like(local) for _ in range(self.world.size)]
        dist.all_gather(parts, local)
        return torch.cat(parts, dim=-1)  # [..., V]
