"""The processes a sharded model runs on: a `torch.distributed` world.

`torchrun --nproc-per-node N -m r1mini …` starts N processes and tells each its rank through the
environment (`RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`); `init_from_env` joins them into
one process group: NCCL when the processes have GPUs, gloo on CPUs. `spawn` does the same from
Python (tests, the chapters): it starts `world_size` processes on this machine with gloo and runs
`fn(rank, world_size, *args)` in each. A world of size 1 needs no process group at all: every
helper here then does nothing, and the model is the plain one.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


@dataclass(frozen=True)
class World:
    """This process's place among `size` processes (`rank` 0 is the one that prints)."""

    rank: int = 0
    size: int = 1

    @property
    def leader(self) -> bool:
        return self.rank == 0


def world() -> World:
    """The world this process belongs to (size 1 without a process group)."""
    if not dist.is_available() or not dist.is_initialized():
        return World()
    return World(dist.get_rank(), dist.get_world_size())


def init_from_env(device: torch.device | None = None) -> World:
    """Join the processes `torchrun` started (a no-op for a single process). The backend follows
    the device: NCCL for CUDA, gloo otherwise."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1 or dist.is_initialized():
        return world()
    cuda = device is not None and device.type == "cuda"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")
    return world()


def free_port() -> int:
    """A TCP port nobody listens on now, for the processes' rendezvous on this machine."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, world_size: int, port: int, fn: Callable[..., Any], args: tuple) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)  # N processes share the machine's cores
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        fn(rank, world_size, *args)
    finally:
        dist.destroy_process_group()


def spawn(fn: Callable[..., Any], world_size: int, *args: Any) -> None:
    """Run `fn(rank, world_size, *args)` in `world_size` new processes joined by gloo, and wait for
    all of them; an exception in any process is raised here. `fn` must be importable (a module-level
    function), as the processes start fresh interpreters."""
    if world_size < 1:
        raise ValueError(f"world_size={world_size} must be >= 1")
    mp.spawn(_entry, args=(world_size, free_port(), fn, args), nprocs=world_size, join=True)
