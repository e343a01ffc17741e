"""How the MoE experts' grouped GEMMs launch (`moe_experts_triton`), from the shapes alone: the
sorted, padded layout of the (token, expert) pairs, the tiles of both launches, and the candidates
the autotuner times on a GPU (`tuning.py`).

Nothing here needs Triton: a machine without it (macOS, Windows) can still compute, and chapter 10
shows, what a GPU launch would choose. The kernels live in `moe_experts_triton.py`.
"""

from __future__ import annotations

import torch

from r1mini.kernels.checks import cdiv, dot_in_fp32, dot_tile


def align_by_expert(ids: torch.Tensor, n_experts: int, block_m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort the (token, slot) pairs by expert, padding each expert's run to a multiple of `block_m`.

    ids: [N, k] expert ids. Returns
        sorted_pairs: [n_blocks * block_m] pair `token * k + slot` of each row, P = N·k on padding;
        block_expert: [n_blocks] the expert of each block, -1 for the unused tail blocks.
    n_blocks = ceil(P / block_m) + min(E, P) bounds Σ_e ceil(count_e / block_m) without a sync.
    """
    flat = ids.flatten()  # [P]
    n_pairs = flat.numel()
    counts = torch.bincount(flat, minlength=n_experts)  # [E] pairs per expert
    padded = (counts + block_m - 1) // block_m * block_m  # [E]
    ends = padded.cumsum(0)  # [E] end row of each expert's run
    order = torch.argsort(flat, stable=True)  # [P] pairs sorted by expert
    expert_of = flat[order]  # [P]
    rank = torch.arange(n_pairs, device=ids.device) - (counts.cumsum(0) - counts)[expert_of]  # [P]
    n_blocks = cdiv(n_pairs, block_m) + min(n_experts, n_pairs)
    sorted_pairs = torch.full((n_blocks * block_m,), n_pairs, dtype=torch.int64, device=ids.device)
    sorted_pairs[(ends - padded)[expert_of] + rank] = order
    block_start = torch.arange(n_blocks, device=ids.device) * block_m  # [n_blocks]
    block_expert = torch.searchsorted(ends, block_start, right=True)  # [n_blocks]
    block_expert = torch.where(block_expert < n_experts, block_expert, -1)
    return sorted_pairs, block_expert


# GPU tiles (BLOCK_N cap, BLOCK_K cap, warps, pipeline stages), `launch_config`'s default first;
# the others are the autotuner's candidates (tuning.py), each compiled for sm_90 by bench/compile_check.py
GPU_TILES = ((128, 64, 4, 3), (128, 64, 8, 3), (64, 64, 4, 4), (128, 128, 8, 2), (64, 128, 4, 3))


def launch_config(
    n_pairs: int,
    n_experts: int,
    d: int,
    inter: int,
    dtype: torch.dtype,
    interpret: bool,
    *,
    tiles: tuple[int, int, int, int] | None = None,
    block_m: int | None = None,
) -> dict[str, int | dict[str, int | bool]]:
    """Tiles of both launches: `block_m` (rows per expert block, for `align_by_expert`) and the
    constexprs + warps/stages of `_gate_up` and `_down`.

    BLOCK_M is 16 in the interpreter; on a GPU it grows with the pairs an expert gets on average
    (vLLM's rule: small blocks for a few decoded tokens, 64 when experts get many). BLOCK_N/BLOCK_K
    are capped at 128/64 on a GPU (`GPU_TILES[0]`), 256/128 when interpreting (fewer, bigger
    programs run faster). `tiles` and `block_m` override the defaults (the autotuner's candidates).
    """
    if block_m is None:
        block_m = 16 if interpret else dot_tile(n_pairs // n_experts, 64)
    n_cap, k_cap, warps, stages = tiles or ((256, 128, 4, 3) if interpret else GPU_TILES[0])
    shared = {
        "BLOCK_M": block_m,
        "DOT_FP32": dot_in_fp32(dtype, interpret=interpret),
        "num_warps": warps,
        "num_stages": stages,
    }
    return {
        "block_m": block_m,
        "gate_up": {**shared, "BLOCK_N": dot_tile(inter, n_cap), "BLOCK_K": dot_tile(d, k_cap)},
        "down": {**shared, "BLOCK_N": dot_tile(d, n_cap), "BLOCK_K": dot_tile(inter, k_cap)},
    }


def candidates(
    n_pairs: int, n_experts: int, d: int, inter: int, dtype: torch.dtype, interpret: bool
) -> list[dict]:
    """The `launch_config` overrides `TUNER` chooses from: none (the default) first; on a GPU also
    every other of `GPU_TILES`, and half the rows per expert block (less padding when experts get
    few pairs). Overrides, not configs: a choice made at one shape applies to the whole class."""
    shape = (n_pairs, n_experts, d, inter, dtype, interpret)
    if interpret:
        return [{}]
    found: list[dict] = [{}] + [{"tiles": t} for t in GPU_TILES[1:]]
    block_m = launch_config(*shape)["block_m"]
    if block_m > 16:
        found.append({"block_m": block_m // 2})
    configs = [launch_config(*shape, **o) for o in found]
    return [o for i, o in enumerate(found) if configs[i] not in configs[:i]]  # small widths repeat
