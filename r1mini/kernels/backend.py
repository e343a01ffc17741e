"""One switch that chooses, for the whole model, between the Triton kernels and their PyTorch
references.

`use("torch")` or `use("triton")` sets the backend; used as a context manager it restores the
previous choice on exit. With no choice made ("auto"), tensors on a CUDA device take the Triton
kernels and every other tensor (CPU, Apple's MPS) the PyTorch references. Forcing "triton" on CPU
tensors runs Triton's interpreter, which must be switched on (`TRITON_INTERPRET=1`) before `triton`
is first imported: `use("triton")` does that when no GPU is present, so call it before anything
imports triton.

Triton is optional: it ships wheels for Linux only, and r1mini imports it only when a Triton kernel
runs. Without it (macOS, Windows) "auto" always takes the PyTorch references and `use("triton")`
says why it cannot; `triton_available()` is the one place that asks.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from types import TracebackType
from typing import Literal

import torch

Backend = Literal["auto", "torch", "triton"]
_BACKENDS = ("auto", "torch", "triton")
_current: Backend = "auto"


@functools.cache
def triton_available() -> bool:
    """Whether the `triton` package is installed (looked up, not imported: importing it decides
    whether its interpreter is on)."""
    return importlib.util.find_spec("triton") is not None


class use:
    """Select the kernel backend: `use("triton")`, or `with use("torch"): ...`."""

    def __init__(self, backend: Backend) -> None:
        global _current
        if backend not in _BACKENDS:
            raise ValueError(f"kernel backend {backend!r} is unknown; choose one of {_BACKENDS}")
        if backend == "triton" and not triton_available():
            raise RuntimeError(
                "kernel backend 'triton' needs the triton package, which is not installed here "
                "(Triton ships for Linux only); use 'torch' or 'auto' (the PyTorch references)"
            )
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
    """Whether an op on `x` should run its Triton kernel under the current choice: "auto" runs it
    on CUDA tensors when Triton is installed."""
    if _current == "auto":
        return x.is_cuda and triton_available()
    return _current == "triton"


def exporting() -> bool:
    """Whether the model is being traced for export (`torch.export`, `torch.onnx.export(...,
    dynamo=True)`): its ops must then keep every shape independent of tensor values. False on a
    torch without `torch.compiler.is_exporting` (before 2.5), which cannot take that path anyway."""
    is_exporting = getattr(torch.compiler, "is_exporting", None)
    return bool(is_exporting and is_exporting())
