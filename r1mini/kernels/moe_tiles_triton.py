"""The block of the sorted, padded MoE layout (`moe_experts_launch.align_by_expert`) that a program
of the grouped-GEMM kernels works on, forward (`moe_experts_triton`) and backward
(`moe_experts_backward_triton`). A `@triton.jit` device function, compiled into its callers.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _block_rows(block_expert_ptr, pairs_ptr, n_pairs, BLOCK_M: tl.constexpr):
    """Block `program_id(0)`: its expert (-1 for an unused tail block, which the caller skips), its
    rows of the sorted layout [BM], each row's (token, slot) pair and whether it is one (not padding)."""
    block = tl.program_id(0)
    expert = tl.load(block_expert_ptr + block).to(tl.int64)
    rows = block * BLOCK_M + tl.arange(0, BLOCK_M)  # [BM]
    pair = tl.load(pairs_ptr + rows)  # [BM], n_pairs on padding rows
    return expert, rows, pair, pair < n_pairs
