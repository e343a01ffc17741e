"""Autotuning on a GPU: each wrapper's shape-derived launch config, or the fastest of a few
candidates, timed once per shape class.

Every tuned wrapper (MoE experts, MLA attention, FP8 GEMM) has a `candidates(...)` function in its
launch plan (`moe_experts_launch.py`, `mla_attention_launch.py`, `fp8_launch.py`): its
`launch_config` choice first, then a few neighbours (other tiles, warps, pipeline stages, and for
MLA decode other cache splits). `TUNER.pick` runs the wrapper's whole launch sequence once per
candidate under `triton.testing.do_bench`, the first time a shape class is seen, and remembers the
fastest; later calls of that class reuse it. Interpreting (a CPU), with `R1MINI_AUTOTUNE=0`, or with
a single candidate, it returns the first candidate and times nothing, so CPU runs stay deterministic.

Why not `@triton.autotune`: it tunes a kernel's constexprs, but two of the choices that matter are
made on the host and change the launch itself: the MoE's rows per expert block fix the sorted,
padded layout (`align_by_expert`), and MLA decode's cache splits fix the grid and whether a merge
launch follows. And Triton's interpreter cannot autotune (TRITON.md). Every candidate is compiled
for sm_90 by `r1mini.bench.compile_check` (no spills, shared memory within the H200's limit) and
run through the interpreter against the PyTorch reference by the tests, so whichever one wins on a
GPU is a correct one.

Timing a candidate launches it several times: the launches only write their outputs (no
accumulation into inputs), so repeating them is harmless.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from r1mini.kernels.checks import interpreting

Config = dict[str, Any]
Timer = Callable[[Callable[[], object]], float]  # milliseconds per call of a function


def gpu_ms(fn: Callable[[], object]) -> float:
    """Median milliseconds of `fn` on the GPU (warm-up, L2 flushed between runs)."""
    import triton.testing

    return float(triton.testing.do_bench(fn, warmup=5, rep=25))


def autotune_enabled() -> bool:
    """Tune on a GPU unless R1MINI_AUTOTUNE=0; never in the interpreter."""
    return not interpreting() and os.environ.get("R1MINI_AUTOTUNE", "1") != "0"


@dataclass
class Tuner:
    """Remembers, per (op, shape key), the fastest candidate config and every candidate's time."""

    timer: Timer = gpu_ms
    enabled: Callable[[], bool] = autotune_enabled
    best: dict[tuple[str, Hashable], Config] = field(default_factory=dict)
    timings: dict[tuple[str, Hashable], list[tuple[Config, float]]] = field(default_factory=dict)

    def pick(
        self,
        op: str,
        key: Hashable,
        candidates: Sequence[Config],
        launch: Callable[[Config], object],
    ) -> Config:
        """The config to launch `op` with: `candidates[0]` unless tuning is on and there is a
        choice; then the fastest `launch(candidate)`, timed the first time `key` is seen."""
        if not candidates:
            raise ValueError(f"{op}: no launch config to choose from")
        if len(candidates) == 1 or not self.enabled():
            return candidates[0]
        if (op, key) not in self.best:
            times = [(c, self.timer(lambda c=c: launch(c))) for c in candidates]
            self.timings[(op, key)] = times
            self.best[(op, key)] = min(times, key=lambda ct: ct[1])[0]
        return self.best[(op, key)]

    def clear(self) -> None:
        """Forget every choice (the next call of each shape class tunes again)."""
        self.best.clear()
        self.timings.clear()


TUNER = Tuner()
