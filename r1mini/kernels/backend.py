"""One switch that chooses, for the whole model, between the Triton kernels and their PyTorch
references.

`use("torch")` or `use("triton")` sets the backend; used as a context manager it restores the
previous choice on exit. With no choice made ("auto"), tensors on a CUDA device take the Triton
kernels and CPU tensors the PyTorch references. Forcing "triton" on CPU tensors runs Triton's
interpreter, which must be switched on (`TRITON_INTERPRET=1`) before `triton` is first imported:
`use("triton")` does that when no GPU is present, so call it before anything imports triton.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Literal

import torch

Backend = Literal["auto", "torch", "triton"]
_BACKENDS = ("auto", "torch", "triton")
_current: Backend = "auto"


class use:
    """Select the kernel backend: `use("triton")`, or `with use("torch"): ...`."""

    def __init__(self, backend: Backend) -> None:
        global _current
        if backend not in _BACKENDS:
            raise ValueError(f"kernel backend {backend!r} is unknown; choose one of {_BACKENDS}")
        if backend == "triton" and not torch.cuda.is_available():
            os.environ.setdefault("TRITON_INTERPRET", "1")
        self.previous = _current
        _current = backend

    def __enter__(self) -> use:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _current
        _current = self.previous


def current() -> Backend:
    """The backend chosen now ("auto" unless `use` changed it)."""
    return _current


def wants_triton(x: torch.Tensor) -> bool:
    """Whether an op on `x` should run its Triton kernel under the current choice."""
    if _current == "auto":
        return x.is_cuda
    return _current == "triton"
