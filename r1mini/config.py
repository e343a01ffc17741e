"""`ModelConfig`: every size of a DeepSeek-V3-shaped model, in one place.

The fields follow DeepSeek-V3's `inference/model.py` (`ModelArgs`) and the V3 paper (arXiv 2412.19437):
§2.1.1 for Multi-head Latent Attention, §2.1.2 for DeepSeekMoE, §2.2 for multi-token prediction and
§4.3 for the YaRN context extension. Presets hold the published configurations (V2-Lite, V2, V3/R1)
and two miniatures that train on a laptop CPU (`r1mini.io.hf` converts to and from `transformers`'
configs). A config is validated when it is built: an impossible
combination raises `ValueError` naming the field, its value and the rule it breaks.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

ScoreFunc = Literal["sigmoid", "softmax"]
AttnImpl = Literal["auto", "naive", "absorb"]


@dataclass(frozen=True)
class ModelConfig:
    """Sizes and switches of a DeepSeek-V3-style model.

    Attributes:
        name: preset name, for display.
        vocab_size: rows of the embedding and of the output head.
        dim: model (residual stream) width, `d` in the V3 paper.
        inter_dim: hidden width of the dense SwiGLU layers (the first `n_dense_layers` blocks).
        moe_inter_dim: hidden width of each routed and shared expert.
        n_layers: transformer blocks in the main model (61 at 671B).
        n_dense_layers: leading blocks with a dense FFN instead of MoE (3 at 671B).
        n_heads: attention heads `n_h`.
        n_routed_experts: routed experts per MoE layer `N_r`.
        n_shared_experts: shared experts per MoE layer `N_s` (fused into one SwiGLU of width
            `n_shared_experts * moe_inter_dim`).
        n_activated_experts: routed experts chosen per token `K_r`.
        n_expert_groups: groups the routed experts are split into for group-limited routing.
        n_limited_groups: groups a token may route to (`M` in §2.1.2, "node-limited routing").
        score_func: affinity function: "sigmoid" (V3, eq. 15) or "softmax" (V2).
        route_scale: factor applied to the gate weights (2.5 at 671B).
        norm_topk_prob: normalise the chosen gate weights to sum to one (V3 eq. 13).
        q_lora_rank: query compression rank `d'_c`; 0 means an uncompressed query projection.
        kv_lora_rank: key/value compression rank `d_c` (the latent cached per token).
        qk_nope_head_dim: per-head query/key width without position (`d_h`).
        qk_rope_head_dim: decoupled RoPE width `d_h^R`, shared by all heads for the key.
        v_head_dim: per-head value width.
        max_seq_len: longest context the model is built for (positions, cache capacity checks).
        original_seq_len: context of pre-training, the YaRN reference length.
        rope_theta: RoPE base.
        rope_factor: YaRN scaling factor `s`; 1.0 means plain RoPE.
        beta_fast / beta_slow: YaRN ramp boundaries (in rotations).
        mscale / mscale_all_dim: YaRN attention temperature terms, as in DeepSeek's configs.
        n_mtp_layers: multi-token prediction depth `D` (§2.2); 0 disables MTP.
        norm_eps: RMSNorm epsilon.
        init_std: standard deviation of the normal weight initialisation.
        tie_embeddings: share the embedding matrix with the output head.
        attn_impl: MLA's path (§2.1.1, eq. 1-11): "naive" caches full keys/values, "absorb" caches
            the latent and attends in latent space; "auto" caches the latent, expands keys/values
            for whole sequences (training, prefill) and attends in latent space when decoding.
    """

    name: str = "custom"
    vocab_size: int = 129280
    dim: int = 7168
    inter_dim: int = 18432
    moe_inter_dim: int = 2048
    n_layers: int = 61
    n_dense_layers: int = 3
    n_heads: int = 128
    n_routed_experts: int = 256
    n_shared_experts: int = 1
    n_activated_experts: int = 8
    n_expert_groups: int = 8
    n_limited_groups: int = 4
    score_func: ScoreFunc = "sigmoid"
    route_scale: float = 2.5
    norm_topk_prob: bool = True
    q_lora_rank: int = 1536
    kv_lora_rank: int = 512
    qk_nope_head_dim: int = 128
    qk_rope_head_dim: int = 64
    v_head_dim: int = 128
    max_seq_len: int = 163840
    original_seq_len: int = 4096
    rope_theta: float = 10000.0
    rope_factor: float = 40.0
    beta_fast: float = 32.0
    beta_slow: float = 1.0
    mscale: float = 1.0
    mscale_all_dim: float = 1.0
    n_mtp_layers: int = 1
    norm_eps: float = 1e-6
    init_std: float = 0.02
    tie_embeddings: bool = False
    attn_impl: AttnImpl = "auto"

    def __post_init__(self) -> None:
        _validate(self)

    # ---- derived sizes -------------------------------------------------------------------------
    @property
    def qk_head_dim(self) -> int:
        """Query/key width per head: the position-free part plus the decoupled RoPE part."""
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    @property
    def n_moe_layers(self) -> int:
        return self.n_layers - self.n_dense_layers

    @property
    def experts_per_group(self) -> int:
        return self.n_routed_experts // self.n_expert_groups

    @property
    def uses_yarn(self) -> bool:
        return self.rope_factor > 1.0

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    # ---- presets -------------------------------------------------------------------------------
    @staticmethod
    def preset_names() -> list[str]:
        return list(_PRESETS)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ModelConfig:
        """A named configuration: `deepseek-v3-671b`, `deepseek-v2-236b`, `deepseek-v2-lite-16b`,
        `mini` (the classroom model) or `nano` (for fast tests). Keyword overrides change fields."""
        if name not in _PRESETS:
            raise ValueError(f"preset {name!r} is unknown; choose one of {sorted(_PRESETS)}")
        return cls(**{"name": name, **_PRESETS[name], **overrides})


def _fail(field: str, value: Any, rule: str) -> None:
    raise ValueError(f"ModelConfig.{field}={value!r}: {rule}")


def _validate(c: ModelConfig) -> None:
    """Every rule a DeepSeek-V3-shaped model needs; the message names field, value and rule."""
    positive = (
        "vocab_size",
        "dim",
        "inter_dim",
        "moe_inter_dim",
        "n_layers",
        "n_heads",
        "n_routed_experts",
        "n_activated_experts",
        "n_expert_groups",
        "n_limited_groups",
        "kv_lora_rank",
        "qk_nope_head_dim",
        "qk_rope_head_dim",
        "v_head_dim",
        "max_seq_len",
        "original_seq_len",
    )
    for field in positive:
        value = getattr(c, field)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            _fail(field, value, "must be a positive integer")
    for field in ("n_dense_layers", "n_shared_experts", "q_lora_rank", "n_mtp_layers"):
        value = getattr(c, field)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            _fail(field, value, "must be a non-negative integer")
    for field in ("route_scale", "rope_theta", "norm_eps", "init_std"):
        if not getattr(c, field) > 0:
            _fail(field, getattr(c, field), "must be > 0")
    if c.score_func not in ("sigmoid", "softmax"):
        _fail("score_func", c.score_func, "must be 'sigmoid' (V3) or 'softmax' (V2)")
    if c.attn_impl not in ("auto", "naive", "absorb"):
        _fail(
            "attn_impl",
            c.attn_impl,
            "must be 'naive' (full K/V cache), 'absorb' (latent cache) or 'auto' (latent cache; "
            "expanded keys for whole sequences, latent attention when decoding)",
        )
    if c.n_dense_layers > c.n_layers:
        _fail("n_dense_layers", c.n_dense_layers, f"must be <= n_layers={c.n_layers}")
    if c.qk_rope_head_dim % 2:
        _fail("qk_rope_head_dim", c.qk_rope_head_dim, "must be even (RoPE rotates pairs)")
    if c.n_routed_experts % c.n_expert_groups:
        _fail(
            "n_routed_experts",
            c.n_routed_experts,
            f"must be divisible by n_expert_groups={c.n_expert_groups}",
        )
    if c.n_limited_groups > c.n_expert_groups:
        _fail(
            "n_limited_groups",
            c.n_limited_groups,
            f"must be <= n_expert_groups={c.n_expert_groups}",
        )
    reachable = c.n_limited_groups * (c.n_routed_experts // c.n_expert_groups)
    if c.n_activated_experts > reachable:
        _fail(
            "n_activated_experts",
            c.n_activated_experts,
            f"must be <= the experts in the kept groups (n_limited_groups * experts per group "
            f"= {c.n_limited_groups} * {c.n_routed_experts // c.n_expert_groups} = {reachable})",
        )
    if c.score_func == "sigmoid" and c.n_expert_groups > 1 and c.experts_per_group < 2:
        _fail(
            "n_expert_groups",
            c.n_expert_groups,
            "with sigmoid routing a group is scored by the sum of its top-2 experts, so every "
            f"group needs >= 2 experts (n_routed_experts={c.n_routed_experts} gives "
            f"{c.experts_per_group})",
        )
    if c.rope_factor < 1.0:
        _fail("rope_factor", c.rope_factor, "must be >= 1 (1 = plain RoPE, > 1 = YaRN)")
    if c.uses_yarn and not c.beta_fast > c.beta_slow > 0:
        _fail("beta_fast", c.beta_fast, f"YaRN needs beta_fast > beta_slow={c.beta_slow} > 0")
    if c.original_seq_len > c.max_seq_len:
        _fail("original_seq_len", c.original_seq_len, f"must be <= max_seq_len={c.max_seq_len}")


def yarn_mscale(factor: float, mscale: float = 1.0) -> float:
    """YaRN's attention temperature `0.1·mscale·ln(s) + 1` (1 when `s <= 1`)."""
    return 1.0 if factor <= 1.0 else 0.1 * mscale * math.log(factor) + 1.0


_V3 = dict(
    vocab_size=129280, dim=7168, inter_dim=18432, moe_inter_dim=2048, n_layers=61,
    n_dense_layers=3, n_heads=128, n_routed_experts=256, n_shared_experts=1,
    n_activated_experts=8, n_expert_groups=8, n_limited_groups=4, score_func="sigmoid",
    route_scale=2.5, norm_topk_prob=True, q_lora_rank=1536, kv_lora_rank=512,
    qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128, max_seq_len=163840,
    original_seq_len=4096, rope_theta=10000.0, rope_factor=40.0, beta_fast=32.0, beta_slow=1.0,
    mscale=1.0, mscale_all_dim=1.0, n_mtp_layers=1,
)  # fmt: skip
_V2 = dict(
    _V3, vocab_size=102400, dim=5120, inter_dim=12288, moe_inter_dim=1536, n_layers=60,
    n_dense_layers=1, n_routed_experts=160, n_shared_experts=2, n_activated_experts=6,
    n_limited_groups=3, score_func="softmax", route_scale=16.0, norm_topk_prob=False,
    mscale=0.707, mscale_all_dim=0.707, n_mtp_layers=0,
)  # fmt: skip
_V2_LITE = dict(
    _V2, dim=2048, inter_dim=10944, moe_inter_dim=1408, n_layers=27, n_heads=16,
    n_routed_experts=64, n_expert_groups=1, n_limited_groups=1, route_scale=1.0, q_lora_rank=0,
)  # fmt: skip
# The classroom model: DeepSeek-V3's shape (MLA, 1 dense + 3 MoE blocks, 8 routed experts in 4
# groups of which 2 are kept, top-2, 1 shared expert, sigmoid gate with bias, MTP) at ~0.9M parameters.
_MINI = dict(
    vocab_size=128, dim=96, inter_dim=256, moe_inter_dim=64, n_layers=4, n_dense_layers=1,
    n_heads=4, n_routed_experts=8, n_shared_experts=1, n_activated_experts=2, n_expert_groups=4,
    n_limited_groups=2, score_func="sigmoid", route_scale=1.0, norm_topk_prob=True,
    q_lora_rank=48, kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
    max_seq_len=512, original_seq_len=512, rope_factor=1.0, n_mtp_layers=1,
)  # fmt: skip
# The smallest model that still exercises every path, for fast tests.
_NANO = dict(
    _MINI, vocab_size=64, dim=32, inter_dim=64, moe_inter_dim=16, n_layers=2, n_heads=2,
    q_lora_rank=16, kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=4, v_head_dim=8,
    max_seq_len=128, original_seq_len=128,
)  # fmt: skip
_PRESETS: dict[str, dict[str, Any]] = {
    "deepseek-v3-671b": _V3,
    "deepseek-v2-236b": _V2,
    "deepseek-v2-lite-16b": _V2_LITE,
    "mini": _MINI,
    "nano": _NANO,
}
