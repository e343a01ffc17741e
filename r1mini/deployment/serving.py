"""Serving DeepSeek-V3/R1: memory, expert parallelism, communication and the decoding roofline.

V3 paper §3.4 (Inference and Deployment) serves the 671B model with prefilling and decoding on
separate GPUs: a prefilling unit is 4 nodes / 32 GPUs (attention TP4 with sequence parallelism and
DP8, MoE EP32 with 32 redundant experts: 9 per GPU), a decoding unit 40 nodes / 320 GPUs (attention
TP4 + DP80, MoE EP320: one expert per GPU, 64 of them holding redundant and shared experts). The
MoE all-to-all *dispatches* each token's hidden state to the GPUs of its experts and *combines* the
outputs back. V3 describes two of the choices modelled here for training: node-limited routing
(§2.1.2) sends a token to at most M = 4 nodes, and the dispatch is quantised to FP8 while the combine
stays in BF16 (§3.3.3, "Low-Precision Communication"); prefilling reuses that all-to-all (§3.4.1),
decoding sends point to point to every expert's GPU (§3.4.2). Decoding reads
every weight it uses once per step for a few tokens, so it is bound by memory bandwidth (§3.4.2).

Everything here is arithmetic on a `ModelConfig` (through `r1mini.accounting`, on the meta device)
and on a `Hardware` whose figures the caller supplies: nothing is measured. `placement.py` replays
real routing on a chosen expert placement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from r1mini.accounting import count_parameters, kv_cache_bytes_per_token, streamed_weight_bytes, weight_bytes
from r1mini.config import ModelConfig
from r1mini.fp8_format import activation_nbytes, weight_nbytes

Precision = Literal["bf16", "fp8"]
CacheKind = Literal["absorbed_mla", "naive_mla", "mha", "mha_v3_heads"]  # kv_cache_bytes_per_token
PRECISIONS: tuple[Precision, ...] = ("bf16", "fp8")
Wire = Literal["fp32", "bf16", "fp8"]  # numbers sent between processes
WIRES: tuple[Wire, ...] = ("fp32", "bf16", "fp8")
CACHE_KINDS: tuple[CacheKind, ...] = ("absorbed_mla", "naive_mla", "mha", "mha_v3_heads")


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} must be one of {list(choices)}")


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name}={value!r} must be > 0")


@dataclass(frozen=True)
class Hardware:
    """Peak figures of one accelerator: parameters the caller chooses (e.g. from a datasheet).

    Attributes:
        name: label for figures.
        memory_gb: HBM capacity in GB (10^9 bytes).
        bandwidth_tb_s: HBM bandwidth in TB/s (10^12 bytes per second).
        bf16_tflops / fp8_tflops: dense peak matrix throughput in TFLOP/s.
    """

    name: str
    memory_gb: float
    bandwidth_tb_s: float
    bf16_tflops: float
    fp8_tflops: float

    def __post_init__(self) -> None:
        _check_positive(
            memory_gb=self.memory_gb,
            bandwidth_tb_s=self.bandwidth_tb_s,
            bf16_tflops=self.bf16_tflops,
            fp8_tflops=self.fp8_tflops,
        )

    @property
    def memory_bytes(self) -> float:
        return self.memory_gb * 1e9

    def flops(self, precision: Precision) -> float:
        """Peak FLOP/s for matrix products in `precision`."""
        _check_choice("precision", precision, PRECISIONS)
        return (self.fp8_tflops if precision == "fp8" else self.bf16_tflops) * 1e12

    def ridge(self, precision: Precision) -> float:
        """The roofline's ridge point, FLOP per byte of HBM traffic: below it a kernel waits on
        memory, above it on arithmetic."""
        return self.flops(precision) / (self.bandwidth_tb_s * 1e12)

    def roofline_seconds(self, flops: float, nbytes: float, precision: Precision) -> float:
        """The roofline's lower bound on the time of `flops` operations that move `nbytes` through
        HBM: whichever of arithmetic and memory traffic takes longer at peak speed."""
        return max(flops / self.flops(precision), nbytes / (self.bandwidth_tb_s * 1e12))


# ---- memory: weights and KV cache ------------------------------------------------------------------


def min_gpus(
    config: ModelConfig, memory_bytes: float, precision: Precision = "fp8", include_mtp: bool = False
) -> int:
    """The fewest GPUs of `memory_bytes` each whose memory holds the weights alone (no KV cache, no
    activations, perfectly split): a lower bound, never a deployment."""
    _check_choice("precision", precision, PRECISIONS)
    _check_positive(memory_bytes=memory_bytes)
    return math.ceil(weight_bytes(config, include_mtp)[precision] / memory_bytes)


@dataclass(frozen=True)
class MemoryPlan:
    """What a serving setup holds: the weights, then the KV cache in whatever memory is left.

    Attributes: n_gpus, memory_bytes (per GPU), weight_bytes (all weights, split across the GPUs),
    kv_bytes_per_token (one token's cache across all layers), batch (sequences), context (tokens
    each). The plan assumes nothing else takes memory (activations, buffers, fragmentation) and that
    no weight or cache is replicated, so its capacities are upper bounds.
    """

    n_gpus: int
    memory_bytes: float
    weight_bytes: int
    kv_bytes_per_token: int
    batch: int
    context: int

    @property
    def total_bytes(self) -> float:
        return self.n_gpus * self.memory_bytes

    @property
    def free_bytes(self) -> float:
        """Memory left for the KV cache after the weights (negative: the weights do not fit)."""
        return self.total_bytes - self.weight_bytes

    @property
    def kv_bytes(self) -> int:
        """The cache `batch` sequences of `context` tokens need."""
        return self.batch * self.context * self.kv_bytes_per_token

    @property
    def needed_bytes(self) -> int:
        return self.weight_bytes + self.kv_bytes

    @property
    def fits(self) -> bool:
        return self.needed_bytes <= self.total_bytes

    @property
    def max_tokens(self) -> int:
        """Cached tokens, summed over all sequences, that fit in the free memory."""
        return max(0, math.floor(self.free_bytes / self.kv_bytes_per_token))

    @property
    def max_context(self) -> int:
        """Longest context each of `batch` sequences can have."""
        return self.max_tokens // self.batch

    @property
    def max_batch(self) -> int:
        """Most sequences of `context` tokens that fit."""
        return self.max_tokens // self.context


def memory_plan(
    config: ModelConfig,
    n_gpus: int,
    memory_bytes: float,
    batch: int = 1,
    context: int = 4096,
    precision: Precision = "fp8",
    cache: CacheKind = "absorbed_mla",
    kv_bytes_per_element: int = 2,
    include_mtp: bool = False,
) -> MemoryPlan:
    """Weights in `precision` (`weight_bytes`) plus a `cache`-kind KV cache
    (`kv_cache_bytes_per_token`, bf16 by default) for `batch` sequences of `context` tokens, on
    `n_gpus` GPUs of `memory_bytes` each."""
    _check_choice("precision", precision, PRECISIONS)
    _check_choice("cache", cache, CACHE_KINDS)
    _check_positive(
        n_gpus=n_gpus,
        memory_bytes=memory_bytes,
        batch=batch,
        context=context,
        kv_bytes_per_element=kv_bytes_per_element,
    )
    return MemoryPlan(
        n_gpus=n_gpus,
        memory_bytes=memory_bytes,
        weight_bytes=weight_bytes(config, include_mtp)[precision],
        kv_bytes_per_token=kv_cache_bytes_per_token(config, kv_bytes_per_element)[cache],
        batch=batch,
        context=context,
    )


def streamed_prefill(
    config: ModelConfig,
    tokens: int,
    read_gb_s: float,
    compute_tflops: float,
    precision: Precision = "fp8",
    kv_bytes_per_element: int = 2,
) -> dict[str, float]:
    """One batch-1 prefill of `tokens` tokens on one machine with the weights streamed from disk
    block by block (`r1mini.io.load_pretrained(..., stream=True)`), at `read_gb_s` GB/s of disk and
    `compute_tflops` TFLOP/s.

    Read: every block's weights once, in `precision` (the embedding and head stay resident; the MTP
    module is not run). Compute: 2 FLOPs per activated matrix parameter per token, plus attention
    over the causal pairs, `T(T+1)/2` per layer at `2·H·(d_qk + d_v)` each (prefill expands the
    keys and values). r1mini's streamer reads a block, then computes it, so the times add up.
    Held: `streamed_weight_bytes` in bf16 plus the latent KV cache of the prompt.
    Returns `read_bytes`, `read_seconds`, `flops`, `compute_seconds`, `seconds`, `held_bytes`.
    """
    _check_choice("precision", precision, PRECISIONS)
    _check_positive(tokens=tokens, read_gb_s=read_gb_s, compute_tflops=compute_tflops)
    c = config
    counts = count_parameters(c)
    resident = counts["breakdown"]["embedding"] + counts["breakdown"]["head"] + c.dim  # + final norm
    read = weight_bytes(c)[precision] - 2 * resident  # the resident tensors are bf16 in both layouts
    matmul_params = counts["activated"] - counts["breakdown"]["embedding"]
    pairs = tokens * (tokens + 1) // 2
    flops = 2 * matmul_params * tokens + c.n_layers * pairs * 2 * c.n_heads * (c.qk_head_dim + c.v_head_dim)
    kv = tokens * kv_cache_bytes_per_token(c, kv_bytes_per_element)["absorbed_mla"]
    read_seconds, compute_seconds = read / (read_gb_s * 1e9), flops / (compute_tflops * 1e12)
    return {
        "read_bytes": float(read),
        "read_seconds": read_seconds,
        "flops": float(flops),
        "compute_seconds": compute_seconds,
        "seconds": read_seconds + compute_seconds,
        "held_bytes": float(streamed_weight_bytes(c) + kv),
    }


# ---- expert parallelism ----------------------------------------------------------------------------


def expert_bytes(config: ModelConfig, precision: Precision = "fp8") -> int:
    """Bytes of one routed expert (w1, w3: [moe_inter_dim, dim], w2: [dim, moe_inter_dim]): two per
    parameter in bf16; in FP8 one per parameter plus an fp32 scale per 128×128 block (§3.3.2)."""
    _check_choice("precision", precision, PRECISIONS)
    shape = (3, config.moe_inter_dim, config.dim)  # w1, w3 and w2ᵀ: three matrices of one size
    return 2 * math.prod(shape) if precision == "bf16" else weight_nbytes(shape)


def expert_parallel(
    config: ModelConfig,
    n_gpus: int,
    redundant: int = 0,
    gpus_per_node: int = 8,
    precision: Precision = "fp8",
) -> dict[str, int]:
    """Expert parallelism (EP) over `n_gpus`: every MoE layer's `n_routed_experts + redundant`
    expert slots (redundant = extra copies of busy experts, §3.4.1) are spread evenly.

    Returns `experts_per_gpu` (slots per GPU in each MoE layer), `nodes`, `expert_bytes_per_gpu`
    (those experts' weights over all MoE layers), and per decoded token the routed-expert weights
    it reads, `activated_expert_bytes` (`K_r` experts in each MoE layer) and its shared experts',
    `shared_expert_bytes`.
    """
    _check_positive(n_gpus=n_gpus, gpus_per_node=gpus_per_node)
    if redundant < 0:
        raise ValueError(f"redundant={redundant} must be >= 0 (extra expert copies)")
    one = expert_bytes(config, precision)
    per_gpu = math.ceil((config.n_routed_experts + redundant) / n_gpus)
    return {
        "experts_per_gpu": per_gpu,
        "nodes": math.ceil(n_gpus / gpus_per_node),
        "expert_bytes_per_gpu": per_gpu * config.n_moe_layers * one,
        "activated_expert_bytes": config.n_activated_experts * config.n_moe_layers * one,
        "shared_expert_bytes": config.n_shared_experts * config.n_moe_layers * one,
    }


def all_to_all_bytes(
    config: ModelConfig,
    copies: int | None = None,
    dispatch: Wire = "fp8",
    combine: Wire = "bf16",
) -> dict[str, int]:
    """Bytes one token moves through the MoE all-to-all, per MoE layer and over all MoE layers.

    Dispatch sends the token's hidden state (`dim` numbers) to each of `copies` destinations (its
    `K_r` experts' GPUs by default; the nodes it reaches, at most M, when traffic is sent once per
    node and forwarded inside it, §3.2.2); in FP8 that is one byte per number plus an fp32 scale
    per 1×128 tile (§3.3.2, §3.3.3). Combine sends one `dim`-wide output back per copy, in BF16.
    Returns `dispatch_per_copy`, `combine_per_copy`, `per_layer` and `per_token` (all MoE layers).
    """
    _check_choice("dispatch", dispatch, WIRES)
    _check_choice("combine", combine, WIRES)
    copies = config.n_activated_experts if copies is None else copies
    if copies < 0:
        raise ValueError(f"copies={copies} must be >= 0 (destinations per token)")

    def one_copy(precision: Wire) -> int:
        return (
            {"fp32": 4, "bf16": 2}[precision] * config.dim
            if precision != "fp8"
            else activation_nbytes(config.dim)
        )

    per_layer = copies * (one_copy(dispatch) + one_copy(combine))
    return {
        "dispatch_per_copy": one_copy(dispatch),
        "combine_per_copy": one_copy(combine),
        "per_layer": per_layer,
        "per_token": per_layer * config.n_moe_layers,
    }


def expected_distinct_experts(n_experts: int, k: int, tokens: int) -> float:
    """Experts of one layer that `tokens` tokens touch, each choosing `k` of `n_experts` uniformly
    at random: `E·(1 − (1 − k/E)^tokens)`. (A real router is not uniform: an assumption.)"""
    if not 0 < k <= n_experts:
        raise ValueError(f"k={k} must lie in 1..n_experts={n_experts}")
    if tokens < 0:
        raise ValueError(f"tokens={tokens} must be >= 0")
    return n_experts * (1.0 - (1.0 - k / n_experts) ** tokens)


def decode_step(
    config: ModelConfig,
    batch: int,
    context: int,
    precision: Precision = "fp8",
    cache: Literal["absorbed_mla", "naive_mla"] = "absorbed_mla",
    kv_bytes_per_element: int = 2,
) -> dict[str, float]:
    """FLOPs and HBM bytes of one decoding step: `batch` sequences, each with `context` cached
    tokens, produce one token each (main model, MTP excluded).

    FLOPs: 2 per activated parameter per token (the embedding is a lookup, not a product; with the
    absorbed cache `wkv_b` is applied to the query and output, once per token) plus attention over
    the cache in every layer: absorbed `2·H·(2·d_c + d_R)` per cached token (scores against
    `[c_KV; k_R]`, then the weighted sum of `c_KV`), naive `2·H·(d_nope + d_R + d_v)`.
    Bytes: every weight except the embedding and the routed experts once per step, the routed
    experts the batch touches (`expected_distinct_experts`, uniform routing), and every cached token.
    Returns `flops`, `dense_weight_bytes`, `expert_weight_bytes`, `kv_bytes`, `bytes`, `intensity`.
    """
    _check_choice("precision", precision, PRECISIONS)
    _check_choice("cache", cache, ("absorbed_mla", "naive_mla"))
    _check_positive(batch=batch, context=context)
    c = config
    counts = count_parameters(c)
    matmul_params = counts["activated"] - counts["breakdown"]["embedding"]
    if cache == "absorbed_mla":
        per_cached = 2 * c.n_heads * (2 * c.kv_lora_rank + c.qk_rope_head_dim)
    else:
        per_cached = 2 * c.n_heads * (c.qk_head_dim + c.v_head_dim)
    flops = batch * (2 * matmul_params + c.n_layers * per_cached * context)
    routed_total = c.n_moe_layers * c.n_routed_experts * expert_bytes(c, precision)
    embedding = 2 * counts["breakdown"]["embedding"]  # bf16 in both layouts
    dense = weight_bytes(c)[precision] - routed_total - embedding
    touched = expected_distinct_experts(c.n_routed_experts, c.n_activated_experts, batch)
    experts = touched * c.n_moe_layers * expert_bytes(c, precision)
    kv = batch * context * kv_cache_bytes_per_token(c, kv_bytes_per_element)[cache]
    total = dense + experts + kv
    return {
        "flops": float(flops),
        "dense_weight_bytes": float(dense),
        "expert_weight_bytes": float(experts),
        "kv_bytes": float(kv),
        "bytes": float(total),
        "intensity": flops / total,
    }


def expert_gemm_intensity(config: ModelConfig, tokens: int, precision: Precision = "fp8") -> float:
    """FLOP per byte of one routed expert's SwiGLU on `tokens` tokens: `2·tokens` FLOPs per weight,
    over the expert's weights plus its inputs (`dim` each, in `precision`) and outputs (`dim`, bf16)."""
    _check_positive(tokens=tokens)
    flops = 2 * tokens * 3 * config.dim * config.moe_inter_dim
    per_number = 1 if precision == "fp8" else 2
    moved = expert_bytes(config, precision) + tokens * config.dim * (per_number + 2)
    return flops / moved


def speculative_speedup(acceptance: float, draft_cost: float) -> float:
    """Tokens per unit of time with a depth-1 MTP draft, relative to plain decoding (§2.2, §5.4.3).

    Each step verifies the drafted token along with the next one; it is kept with probability
    `acceptance`, so a step yields `1 + acceptance` tokens on average. `draft_cost` is the extra
    time of a step (the MTP module, the second position), relative to a plain step: near zero when
    decoding is memory-bound and the draft module is small. An estimate, not a measurement.
    """
    if not 0.0 <= acceptance <= 1.0:
        raise ValueError(f"acceptance={acceptance} must lie in [0, 1]")
    if draft_cost < 0:
        raise ValueError(f"draft_cost={draft_cost} must be >= 0")
    return (1.0 + acceptance) / (1.0 + draft_cost)
