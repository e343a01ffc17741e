"""Kernels shared by every model size: each a Triton kernel beside its PyTorch reference.

`use("torch" | "triton")` chooses the backend for every op of every model (see `backend.py`).
Launch configs come from the shapes; on a GPU the MoE, MLA and FP8 GEMM wrappers autotune among a
few candidates (see `tuning.py`). Triton is optional (Linux only): the `*_triton` modules are
imported only when a Triton kernel runs, and everything else here, the launch plans
(`*_launch.py`) included, runs without it (`triton_available()`).
"""

from r1mini.kernels.backend import current, exporting, triton_available, use, wants_triton
from r1mini.kernels.fp8 import (
    act_quant,
    act_quant_reference,
    fp8_gemm,
    fp8_gemm_reference,
    weight_dequant,
    weight_dequant_reference,
)
from r1mini.kernels.logprobs import token_logprobs, token_logprobs_reference
from r1mini.kernels.mla_attention import mla_attention, mla_attention_reference
from r1mini.kernels.moe_experts import moe_experts, moe_experts_reference
from r1mini.kernels.rmsnorm import rms_norm, rms_norm_reference
from r1mini.kernels.router import route, route_reference

__all__ = [
    "act_quant",
    "act_quant_reference",
    "current",
    "exporting",
    "fp8_gemm",
    "fp8_gemm_reference",
    "mla_attention",
    "mla_attention_reference",
    "moe_experts",
    "moe_experts_reference",
    "rms_norm",
    "rms_norm_reference",
    "route",
    "route_reference",
    "token_logprobs",
    "token_logprobs_reference",
    "triton_available",
    "use",
    "wants_triton",
    "weight_dequant",
    "weight_dequant_reference",
]
