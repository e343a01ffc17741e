"""What a configuration costs: parameters (total, activated per token, by component), KV-cache bytes
per token, and weight memory, all computed from the model the config builds (on the meta device, so
the 671B model costs nothing to count).

V3 paper §1 and Table 1 report 671B total and 37B activated parameters for DeepSeek-V3 (the MTP module
adds 14B, of which 11.5B are its own, §4.2). DeepSeek's weights README gives 36.6B activated, counting
the output head but not the embedding table, which a token only reads one row of: r1mini's 36.63B
(`activated_without_embedding`); with the embedding, as `activated` counts, it is 37.55B.

KV-cache sizes follow §2.1.1 (only `c^{KV}` and `k^R` are cached); FP8 weight storage follows §3.3
(E4M3 with one fp32 scale per 128×128 block).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from r1mini.config import ModelConfig
from r1mini.fp8_format import weight_nbytes
from r1mini.model import Experts, Transformer

COMPONENTS = (
    "embedding",
    "attention",
    "norms",
    "dense_mlp",
    "gates",
    "shared_experts",
    "routed_experts",
    "head",
)


def _component(name: str) -> str:
    """Which component a parameter name (inside a block or the main stack) belongs to."""
    if name.startswith("embed."):
        return "embedding"
    if name.startswith("head."):
        return "head"
    if ".attn." in name:
        return "attention"
    if "norm" in name:
        return "norms"
    if ".experts." in name:
        return "routed_experts"
    if ".shared_experts." in name:
        return "shared_experts"
    if ".gate." in name:
        return "gates"
    if ".ffn." in name:
        return "dense_mlp"
    return "mtp_projection"  # eh_proj


@lru_cache(maxsize=16)
def meta_model(config: ModelConfig) -> Transformer:
    """The model `config` describes, on the meta device (shapes only, no memory)."""
    with torch.device("meta"):
        return Transformer(config)


def count_parameters(config: ModelConfig) -> dict:
    """Parameter counts of `config`'s model.

    Returns a dict with `total` (main model, MTP excluded), `activated` (per token: everything but the
    routed experts, plus `K_r / N_r` of those), `activated_without_embedding` (the same without the
    embedding table, DeepSeek's way of counting: a token reads one of its rows, a lookup rather than a
    product), `mtp` (parameters unique to the MTP modules; they reuse the embedding and head),
    `mtp_activated`, and by component (component -> count) `breakdown`,
    `activated_breakdown`, `mtp_breakdown` and `mtp_activated_breakdown`.
    """
    model = meta_model(config)
    main = dict.fromkeys(COMPONENTS, 0)
    mtp: dict[str, int] = {}
    for name, p in model.named_parameters():
        if name.startswith("mtp."):
            part = _component(name)
            mtp[part] = mtp.get(part, 0) + p.numel()
        else:
            main[_component(name)] += p.numel()
    share = config.n_activated_experts / config.n_routed_experts

    def activated(counts: dict[str, int]) -> dict[str, int]:
        return {part: round(n * share) if part == "routed_experts" else n for part, n in counts.items()}

    main_activated, mtp_activated = activated(main), activated(mtp)
    return {
        "total": sum(main.values()),
        "activated": sum(main_activated.values()),
        "activated_without_embedding": sum(main_activated.values()) - main["embedding"],
        "mtp": sum(mtp.values()),
        "mtp_activated": sum(mtp_activated.values()),
        "breakdown": main,
        "activated_breakdown": main_activated,
        "mtp_breakdown": mtp,
        "mtp_activated_breakdown": mtp_activated,
    }


def kv_cache_bytes_per_token(config: ModelConfig, bytes_per_element: int = 2) -> dict[str, int]:
    """KV-cache bytes one token costs across all layers (bf16 by default).

    `absorbed_mla`: the latent `c^{KV}` plus the shared roped key, `(kv_lora_rank + rope)·L`;
    `naive_mla`: expanded per-head keys and values, `H·(nope + rope + v)·L`;
    `mha`: the usual baseline (DeepSeek-V2 paper, Table 1: `2·n_h·d_h·l`), multi-head attention with
    as many heads, keys and values both `v_head_dim` (128) wide, `2·H·v·L`;
    `mha_v3_heads`: multi-head attention with V3's own head shapes, keys `nope + rope` (192) wide and
    values `v` (128), `H·(nope + rope + v)·L`. Naive MLA caches exactly this much: it is MHA with
    V3's heads, which is why it caches more than `mha`.
    """
    c = config
    elements = {
        "absorbed_mla": (c.kv_lora_rank + c.qk_rope_head_dim) * c.n_layers,
        "naive_mla": c.n_heads * (c.qk_head_dim + c.v_head_dim) * c.n_layers,
        "mha": 2 * c.n_heads * c.v_head_dim * c.n_layers,
        "mha_v3_heads": c.n_heads * (c.qk_head_dim + c.v_head_dim) * c.n_layers,
    }
    return {kind: n * bytes_per_element for kind, n in elements.items()}


def weight_bytes(config: ModelConfig, include_mtp: bool = False) -> dict[str, int]:
    """Bytes to hold the weights: all in bf16, or DeepSeek-V3's FP8 layout (§3.3): every projection
    matrix (attention, dense and expert FFNs) in E4M3 plus one fp32 scale per 128×128 block
    (`fp8_format.weight_nbytes`); embedding, head, norms and gates stay in bf16."""
    model = meta_model(config)
    matrices: set[int] = set()
    for name, module in model.named_modules():
        if include_mtp or not name.startswith("mtp."):
            if isinstance(module, nn.Linear) and module is not model.head:
                matrices.add(id(module.weight))
            elif isinstance(module, Experts):
                matrices.update(id(w) for w in (module.w1, module.w2, module.w3))
    bf16 = fp8 = 0
    for name, p in model.named_parameters():
        if name.startswith("mtp.") and not include_mtp:
            continue
        bf16 += 2 * p.numel()
        if id(p) in matrices:
            fp8 += weight_nbytes(p.shape)
        else:
            fp8 += 2 * p.numel()
    return {"bf16": bf16, "fp8": fp8}


def streamed_weight_bytes(config: ModelConfig, bytes_per_element: int = 2) -> int:
    """Weight bytes `load_pretrained(..., stream=True)` holds at its peak: the embedding, the final
    norm and the head, which stay resident, plus the largest block, read for its forward and freed
    after it (bf16 by default)."""
    model = meta_model(config)

    def size(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters()) * bytes_per_element

    return size(model.embed) + size(model.norm) + size(model.head) + max(size(b) for b in model.layers)


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23 M' (or '1.23 MB' with unit 'B')."""
    for scale, suffix in ((1e12, "T"), (1e9, "G" if unit else "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:,.2f} {suffix}{unit}"
    return f"{n:,.0f} {unit}".rstrip()
