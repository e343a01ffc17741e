"""Serving DeepSeek-V3/R1 (V3 paper §3.4): `serving` is the arithmetic of memory, communication and
the decoding roofline on a `ModelConfig` and a `Hardware`; `placement` replays real routing on an
expert-parallel placement. Both are imported here, as the chapter uses them."""

from r1mini.deployment.placement import SCHEMES, EPTraffic, Scheme, place_experts, simulate_expert_parallel
from r1mini.deployment.serving import (
    CACHE_KINDS,
    PRECISIONS,
    CacheKind,
    Hardware,
    MemoryPlan,
    Precision,
    all_to_all_bytes,
    decode_step,
    expected_distinct_experts,
    expert_bytes,
    expert_gemm_intensity,
    expert_parallel,
    memory_plan,
    min_gpus,
    speculative_speedup,
    streamed_prefill,
)

__all__ = [
    "CACHE_KINDS",
    "PRECISIONS",
    "SCHEMES",
    "CacheKind",
    "EPTraffic",
    "Hardware",
    "MemoryPlan",
    "Precision",
    "Scheme",
    "all_to_all_bytes",
    "decode_step",
    "expected_distinct_experts",
    "expert_bytes",
    "expert_gemm_intensity",
    "expert_parallel",
    "memory_plan",
    "min_gpus",
    "place_experts",
    "simulate_expert_parallel",
    "speculative_speedup",
    "streamed_prefill",
]
