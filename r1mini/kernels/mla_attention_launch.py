"""How absorbed MLA attention launches (`mla_attention_triton`), from the shapes alone: the row
blocks, the split of the cache into ranges when decoding (split-KV), the tiles, and the candidates
the autotuner times on a GPU (`tuning.py`).

Nothing here needs Triton: a machine without it (macOS, Windows) can still compute, and chapter 10
shows, what a GPU launch would choose. The kernels live in `mla_attention_triton.py`.
"""

from __future__ import annotations

import torch

from r1mini.kernels.checks import cdiv, dot_in_fp32, dot_tile, next_power_of_2


def launch_config(
    batch: int,
    n_t: int,
    n_heads: int,
    S: int,
    C: int,
    R: int,
    *,
    dtypes: tuple[torch.dtype, ...],
    has_mask: bool,
    interpret: bool,
    sm_count: int,
    kv_splits: int | None = None,
    block_m: int | None = None,
    block_s: int | None = None,
    num_warps: int | None = None,
    num_stages: int = 3,
) -> dict:
    """How `_flash_latent` launches for these shapes: the row blocks, the cache split (`splits`
    ranges of `split_len` positions) and the constexprs + warps/stages of `_mla_fwd` and
    `_merge_splits` (`merge` is None with one split).

    Tiles: with C >= 256 on a GPU a [rows, C] fp32 accumulator is large, so 32 rows x 32 cache
    positions and 8 warps; otherwise up to 64 x 64 and 4 warps. Splits (default): only when decoding
    (T = 1), enough programs for two per SM (`sm_count`: 1 when interpreting), never more splits
    than cache blocks. `kv_splits`, `block_m`, `block_s`, `num_warps`, `num_stages` override the
    defaults (a caller's choice, or the autotuner's candidates).
    """
    n_rows = n_t * n_heads
    big_c = C >= 256 and not interpret
    block_m = block_m or dot_tile(n_rows, 32 if big_c else 64)
    block_s = block_s or dot_tile(S, 32 if big_c else 64)
    row_blocks, kv_blocks = cdiv(n_rows, block_m), cdiv(S, block_s)
    if kv_splits is None:
        slots = 2 * sm_count
        kv_splits = 1 if n_t > 1 else max(1, min(kv_blocks, cdiv(slots, batch * row_blocks)))
    split_len = cdiv(cdiv(S, kv_splits), block_s) * block_s  # whole cache blocks
    splits = cdiv(S, split_len)
    fwd = dict(
        HAS_MASK=has_mask,
        DOT_FP32=dot_in_fp32(*dtypes, interpret=interpret),
        BLOCK_M=block_m,
        BLOCK_S=block_s,
        BLOCK_C=next_power_of_2(C),
        BLOCK_R=dot_tile(R, 256),
        num_warps=num_warps or (8 if big_c else 4),
        num_stages=num_stages,
    )
    merge = None
    if splits > 1:
        merge = dict(BLOCK_J=next_power_of_2(splits), BLOCK_C=next_power_of_2(C))
    return dict(row_blocks=row_blocks, splits=splits, split_len=split_len, fwd=fwd, merge=merge)


def candidates(
    batch: int,
    n_t: int,
    n_heads: int,
    S: int,
    C: int,
    R: int,
    *,
    dtypes: tuple[torch.dtype, ...],
    has_mask: bool,
    interpret: bool,
    sm_count: int,
    kv_splits: int | None = None,
) -> list[dict]:
    """The `launch_config` overrides `TUNER` chooses from: none (the default) first; on a GPU also
    2 pipeline stages, half the rows, a 64-long cache block (with half the rows when prefilling),
    and (decoding, unless the caller fixed `kv_splits`) twice and half the cache splits.
    Overrides, not configs: a choice made at one cache length applies to every length of its
    class."""
    shape = (batch, n_t, n_heads, S, C, R)
    fixed = dict(
        dtypes=dtypes, has_mask=has_mask, interpret=interpret, sm_count=sm_count, kv_splits=kv_splits
    )
    if interpret:
        return [{}]
    default = launch_config(*shape, **fixed)
    fwd = default["fwd"]
    tiles = dict(block_m=fwd["BLOCK_M"], block_s=fwd["BLOCK_S"], num_warps=fwd["num_warps"])
    half_m = max(fwd["BLOCK_M"] // 2, 16)
    found: list[dict] = [
        {},
        {**tiles, "num_stages": 2},
        {**tiles, "block_m": half_m},
        # a longer cache block; prefill halves the rows to stay within the registers
        {**tiles, "block_s": min(2 * fwd["BLOCK_S"], 64), "num_stages": 2}
        | ({"block_m": half_m} if n_t > 1 else {}),
    ]
    if n_t == 1 and kv_splits is None:
        found += [
            {**tiles, "kv_splits": 2 * default["splits"]},
            {**tiles, "kv_splits": max(default["splits"] // 2, 1)},
        ]
    configs = [launch_config(*shape, **{**fixed, **o}) for o in found]
    return [o for i, o in enumerate(found) if configs[i] not in configs[:i]]
