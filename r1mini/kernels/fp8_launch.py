"""How the FP8 kernels launch (`fp8_triton`), from the shapes alone: what `act_quant` stores, the
GEMM's tiles, and the GEMM candidates the autotuner times on a GPU (`tuning.py`).

Nothing here needs Triton: a machine without it (macOS, Windows) can still compute, and chapter 10
shows, what a GPU launch would choose. The kernels live in `fp8_triton.py`.
"""

from __future__ import annotations

import torch

from r1mini.fp8_format import BLOCK, FP8
from r1mini.kernels.checks import dot_tile


def act_quant_store_dtype(interpret: bool) -> torch.dtype:
    """What `_act_quant` stores: e4m3 when compiled, fp32 when interpreting (triton 3.9's interpreter
    rounds to e4m3 wrongly, so PyTorch casts; `fp8_triton`'s docstring)."""
    return torch.float32 if interpret else FP8


def gemm_config(
    m: int,
    interpret: bool,
    *,
    block_m: int | None = None,
    block_n: int | None = None,
    num_warps: int = 4,
    num_stages: int = 3,
) -> dict[str, int]:
    """Tiles of `_fp8_gemm` for M rows: BLOCK_M from M (16..64); BLOCK_N 64 for a small M on a GPU
    (decode: more column programs), else 128; BLOCK_K is the 128-wide scale block. The keyword
    arguments override the defaults (the autotuner's candidates)."""
    block_n = block_n or (128 if interpret or m > 64 else 64)
    return {
        "BLOCK_M": block_m or dot_tile(m, 64),
        "BLOCK_N": block_n,
        "BLOCK_K": BLOCK,
        "num_warps": num_warps,
        "num_stages": num_stages,
    }


def gemm_candidates(m: int, interpret: bool) -> list[dict]:
    """The `gemm_config` overrides `TUNER` chooses from: none (the default) first; on a GPU also
    the other BLOCK_N, 8 warps, 4 stages, and 128 rows with 8 warps when M is large."""
    if interpret:
        return [{}]
    default = gemm_config(m, interpret)
    other_n = 64 if default["BLOCK_N"] == 128 else 128
    found: list[dict] = [{}, {"block_n": other_n}, {"num_warps": 8}, {"num_stages": 4}]
    if m >= 256:
        found.append({"block_m": 128, "num_warps": 8})
    return found
