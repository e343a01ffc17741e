"""The learning-rate schedule: linear warmup, then cosine decay (DeepSeek-V3 §4.2 warms up linearly
and then decays the rate along a cosine; nanoGPT and most small-model recipes do the same).

    step < warmup:   lr = peak · (step + 1) / warmup
    afterwards:      lr = peak · (final + (1 − final) · ½(1 + cos(π · progress)))
                     progress = (step − warmup) / (total − 1 − warmup), from 0 to 1 at the last step

`final` is the share of the peak left at the last step; `final = 1` keeps the rate constant after
warmup, as GRPO runs usually do (the revised R1 paper gives R1-Zero a learning rate of 3e-6).
"""

from __future__ import annotations

import math


def learning_rate(step: int, peak: float, warmup: int, total: int, final: float = 0.1) -> float:
    """The rate for optimizer step `step` (0-based) of `total`, warming up over `warmup` steps (a
    run shorter than its warmup warms up throughout)."""
    if total < 1:
        raise ValueError(f"learning_rate: total={total} must be >= 1 (steps in the run)")
    if warmup < 0:
        raise ValueError(f"learning_rate: warmup={warmup} must be >= 0")
    if not 0 <= final <= 1:
        raise ValueError(f"learning_rate: final={final} must be in [0, 1] (share of peak at the end)")
    if not 0 <= step < total:
        raise ValueError(f"learning_rate: step={step} must be in [0, total={total})")
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - 1 - warmup)
    return peak * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress)))
