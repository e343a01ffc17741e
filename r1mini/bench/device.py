"""What every benchmark needs from the machine: a timer and the measured ceilings to compare with.

On a GPU with Triton, times come from `triton.testing.do_bench` (warm-up, then the median of
repeated runs with the L2 cache flushed between them). The ceilings are measured, not taken from a
data sheet: the copy bandwidth of a 1 GiB device-to-device copy (bytes read + written per second)
and the rate of a dense 8192³ bf16 matmul. Otherwise the timer is the median of a few
`time.perf_counter` runs. The H200 facts below are the target the kernels are compiled for.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from r1mini.kernels.backend import triton_available

# The GPU the kernels are compiled and tuned for (`compile_check`, chapter 10): NVIDIA's H200.
H200_SMS = 132  # streaming multiprocessors: the split-KV choice of MLA decode depends on it
H200_SHARED_LIMIT = 227 * 1024  # bytes of shared memory one block may use on sm_90 (opt-in maximum)


def on_gpu() -> bool:
    return torch.cuda.is_available()


def enable_interpreter_without_gpu() -> None:
    """Triton's interpreter must be switched on before `triton` is imported (no GPU: CPU tensors)."""
    if not on_gpu():
        os.environ.setdefault("TRITON_INTERPRET", "1")


def time_ms(fn: Callable[[], object], repeats: int = 3) -> float:
    """Median milliseconds per call of `fn`: `triton.testing.do_bench` on a GPU with Triton, else
    a few timed calls (waiting for the GPU, if there is one, after each)."""
    if on_gpu() and triton_available():
        import triton.testing

        return float(triton.testing.do_bench(fn))
    wait = torch.cuda.synchronize if on_gpu() else (lambda: None)
    fn()  # warm-up (first-call allocations, lazy imports)
    wait()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        wait()
        runs.append(time.perf_counter() - start)
    return 1e3 * statistics.median(runs)


@dataclass
class Ceilings:
    copy_gbps: float  # measured device copy bandwidth, GB/s (read + write)
    matmul_tflops: float  # measured dense bf16 matmul rate, TFLOP/s


def measure_ceilings() -> Ceilings:
    """The two rates a kernel is compared with (GPU only)."""
    src = torch.empty(2**29, dtype=torch.bfloat16, device="cuda")  # 1 GiB
    dst = torch.empty_like(src)
    copy_ms = time_ms(lambda: dst.copy_(src))
    n = 8192
    a = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    mm_ms = time_ms(lambda: a @ b)
    return Ceilings(
        copy_gbps=2 * src.numel() * src.element_size() / copy_ms / 1e6,
        matmul_tflops=2 * n**3 / mm_ms / 1e9,
    )
