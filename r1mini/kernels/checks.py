"""Helpers shared by the Triton wrappers and their launch plans: input checks, so every kernel fails
early with the same kind of message, the interpreter facts a wrapper adapts to, and tile
arithmetic. No Triton is imported here: the launch plans (`*_launch.py`) run without it.

A Triton kernel reads raw pointers: a tensor on the wrong device, of an unexpected dtype or shape,
is not an exception inside the kernel but wrong numbers or a crash. Each wrapper therefore checks
its inputs here first; every message names the argument, its value and the rule it breaks.
Non-contiguous inputs are not errors: the wrappers copy them with `.contiguous()` (said in each
docstring), except where a kernel takes strides (the MLA caches, which are usually a slice of a
larger buffer).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

FLOATS = (torch.float32, torch.float16, torch.bfloat16)


def interpreting() -> bool:
    """Whether Triton runs its CPU interpreter (`TRITON_INTERPRET=1`) rather than compiling."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def dot_in_fp32(*dtypes: torch.dtype, interpret: bool) -> bool:
    """Whether a kernel must upcast its `tl.dot` operands (of these dtypes) to fp32: the interpreter
    multiplies bf16 operands as raw bits (triton-lang/triton #11584), so bf16 is upcast when
    interpreting; compiled for a GPU, bf16 goes to the tensor cores as it is."""
    return interpret and torch.bfloat16 in dtypes


def check_device(op: str, **tensors: torch.Tensor) -> None:
    """All tensors on one device, one Triton can run on: CUDA, or the CPU with the interpreter."""
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        raise ValueError(f"{op}: inputs are on different devices {devices}; move them to one device")
    name, device = next(iter(devices.items()))
    if device.type == "cuda":
        return
    if device.type == "cpu" and interpreting():
        return
    if device.type == "cpu":
        raise RuntimeError(
            f"{op}: {name} is on the CPU but Triton's interpreter is off "
            "(TRITON_INTERPRET is not 1). Call r1mini.kernels.use('triton') before anything "
            "imports triton, or set TRITON_INTERPRET=1 in the environment, or move the tensors "
            "to a CUDA device"
        )
    raise RuntimeError(f"{op}: {name} is on {device}; Triton kernels run on CUDA (or the CPU interpreter)")


def check_dtype(op: str, name: str, t: torch.Tensor, dtypes: Sequence[torch.dtype]) -> None:
    if t.dtype not in dtypes:
        raise TypeError(f"{op}: {name}.dtype={t.dtype} is not supported; use one of {list(dtypes)}")


def check_shape(op: str, name: str, t: torch.Tensor, expected: Sequence[int | None]) -> None:
    """`expected` lists each dimension's size, None for any size; the rank must match too."""
    ok = t.dim() == len(expected)
    ok = ok and all(e is None or e == s for e, s in zip(expected, t.shape, strict=True))
    if not ok:
        pattern = "[" + ", ".join("*" if e is None else str(e) for e in expected) + "]"
        raise ValueError(f"{op}: {name}.shape={tuple(t.shape)} does not match {pattern}")


def next_power_of_2(n: int) -> int:
    """The smallest power of two >= n (as `triton.next_power_of_2`, for n >= 1)."""
    return 1 << max(n - 1, 0).bit_length()


def cdiv(a: int, b: int) -> int:
    """ceil(a / b) for integers, b > 0 (as `triton.cdiv`)."""
    return -(-a // b)


def dot_tile(size: int, cap: int) -> int:
    """A power-of-two tile for a dimension of `size`: >= 16 (tl.dot's minimum), <= `cap`."""
    return max(16, min(cap, next_power_of_2(size)))
