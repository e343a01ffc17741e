"""Weights to and from Hugging Face `transformers`' DeepSeek-V3 (`DeepseekV3ForCausalLM`).

Parameter names map one to one (`BLOCK_NAMES`, `MTP_NAMES`), with two layout changes: transformers
fuses each MoE layer's expert gate and up projections into `experts.gate_up_proj` [E, 2·I, dim] and
keeps `experts.down_proj` [E, dim, I]; released DeepSeek checkpoints instead list every expert
(`experts.{j}.gate_proj.weight`); both are read. RoPE needs no permutation: both sides rotate
DeepSeek's interleaved pairs (`rope_interleave=True`). MTP modules live at layer index `n_layers`
in the released checkpoints (`model.layers.61.*` at 671B); `to_hf_state_dict` writes them there,
`transformers` skips them. The published format itself (FP8, shards) is `r1mini.io.published`.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from r1mini.config import ModelConfig
from r1mini.model import Transformer

# r1mini name fragment inside a block -> transformers name fragment inside a decoder layer
BLOCK_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn.wq.weight": "self_attn.q_proj.weight",
    "attn.wq_a.weight": "self_attn.q_a_proj.weight",
    "attn.q_norm.weight": "self_attn.q_a_layernorm.weight",
    "attn.wq_b.weight": "self_attn.q_b_proj.weight",
    "attn.wkv_a.weight": "self_attn.kv_a_proj_with_mqa.weight",
    "attn.kv_norm.weight": "self_attn.kv_a_layernorm.weight",
    "attn.wkv_b.weight": "self_attn.kv_b_proj.weight",
    "attn.wo.weight": "self_attn.o_proj.weight",
    "ffn.w1.weight": "mlp.gate_proj.weight",
    "ffn.w2.weight": "mlp.down_proj.weight",
    "ffn.w3.weight": "mlp.up_proj.weight",
    "ffn.gate.weight": "mlp.gate.weight",
    "ffn.gate.bias": "mlp.gate.e_score_correction_bias",
    "ffn.shared_experts.w1.weight": "mlp.shared_experts.gate_proj.weight",
    "ffn.shared_experts.w2.weight": "mlp.shared_experts.down_proj.weight",
    "ffn.shared_experts.w3.weight": "mlp.shared_experts.up_proj.weight",
}
MTP_NAMES = {
    "enorm.weight": "enorm.weight",
    "hnorm.weight": "hnorm.weight",
    "eh_proj.weight": "eh_proj.weight",
    "norm.weight": "shared_head.norm.weight",
}


def _block_to_hf(ours: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """One block's tensors (names without the block prefix) in transformers' layout."""
    out = {prefix + BLOCK_NAMES[name]: t for name, t in ours.items() if name in BLOCK_NAMES}
    if "ffn.experts.w1" in ours:
        gate_up = torch.cat([ours["ffn.experts.w1"], ours["ffn.experts.w3"]], dim=1)  # [E, 2I, d]
        out[prefix + "mlp.experts.gate_up_proj"] = gate_up
        out[prefix + "mlp.experts.down_proj"] = ours["ffn.experts.w2"]  # [E, d, I]
    return out


def _group(state: dict[str, torch.Tensor], pattern: str) -> dict[int, dict[str, torch.Tensor]]:
    """Split `{pattern-prefix}{i}.{rest}` keys into {i: {rest: tensor}}."""
    groups: dict[int, dict[str, torch.Tensor]] = {}
    for key, t in state.items():
        m = re.fullmatch(pattern + r"(\d+)\.(.+)", key)
        if m:
            groups.setdefault(int(m.group(1)), {})[m.group(2)] = t
    return groups


def to_hf_state_dict(model: Transformer, include_mtp: bool = True) -> dict[str, torch.Tensor]:
    """`model`'s weights under transformers' DeepSeek-V3 names (MTP at layer `n_layers`)."""
    config = model.config
    state = {k: v.detach() for k, v in model.state_dict().items()}
    out = {
        "model.embed_tokens.weight": state["embed.weight"],
        "model.norm.weight": state["norm.weight"],
        "lm_head.weight": state["head.weight"],
    }
    for i, block in _group(state, r"layers\.").items():
        out.update(_block_to_hf(block, f"model.layers.{i}."))
    if include_mtp:
        for k, module in _group(state, r"mtp\.").items():
            prefix = f"model.layers.{config.n_layers + k}."
            out.update({prefix + MTP_NAMES[n]: t for n, t in module.items() if n in MTP_NAMES})
            block = {n.removeprefix("block."): t for n, t in module.items() if n.startswith("block.")}
            out.update(_block_to_hf(block, prefix))
            out[prefix + "embed_tokens.weight"] = state["embed.weight"]
            out[prefix + "shared_head.head.weight"] = state["head.weight"]
    return out


def _block_from_hf(theirs: dict[str, torch.Tensor], n_experts: int) -> dict[str, torch.Tensor]:
    """Inverse of `_block_to_hf`, accepting fused or per-expert tensors."""
    back = {v: k for k, v in BLOCK_NAMES.items()}
    out = {back[name]: t for name, t in theirs.items() if name in back}
    if "mlp.experts.gate_up_proj" in theirs:
        w1, w3 = theirs["mlp.experts.gate_up_proj"].chunk(2, dim=1)  # [E, I, d] each
        out.update({"ffn.experts.w1": w1, "ffn.experts.w3": w3})
        out["ffn.experts.w2"] = theirs["mlp.experts.down_proj"]
    elif "mlp.experts.0.gate_proj.weight" in theirs:
        for ours, hf in (("w1", "gate_proj"), ("w2", "down_proj"), ("w3", "up_proj")):
            experts = [theirs[f"mlp.experts.{j}.{hf}.weight"] for j in range(n_experts)]
            out[f"ffn.experts.{ours}"] = torch.stack(experts)
    return out


def from_hf_state_dict(state: dict[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    """A transformers-named state dict (fused or per-expert) renamed to r1mini's names."""
    out = {
        "embed.weight": state["model.embed_tokens.weight"],
        "norm.weight": state["model.norm.weight"],
    }
    out["head.weight"] = state.get("lm_head.weight", state["model.embed_tokens.weight"])
    for i, block in _group(state, r"model\.layers\.").items():
        if i < config.n_layers:
            for name, t in _block_from_hf(block, config.n_routed_experts).items():
                out[f"layers.{i}.{name}"] = t
        elif i < config.n_layers + config.n_mtp_layers:
            prefix = f"mtp.{i - config.n_layers}."
            back = {v: k for k, v in MTP_NAMES.items()}
            out.update({prefix + back[n]: t for n, t in block.items() if n in back})
            for name, t in _block_from_hf(block, config.n_routed_experts).items():
                out[f"{prefix}block.{name}"] = t
    return out


def from_transformers(hf_model: Any, **config_overrides: Any) -> Transformer:
    """An r1mini `Transformer` with the weights of a `DeepseekV3ForCausalLM` (or its state dict's
    owner). `config_overrides` (e.g. `attn_impl="naive"`) change the derived config."""
    from r1mini.io.checkpoint import load_state_dict

    config = ModelConfig.from_hf(hf_model.config, n_mtp_layers=0, **config_overrides)
    model = Transformer(config).to(next(hf_model.parameters()).dtype)
    load_state_dict(model, from_hf_state_dict(hf_model.state_dict(), config))
    return model


def to_transformers(model: Transformer) -> Any:
    """A `transformers.DeepseekV3ForCausalLM` holding `model`'s weights (MTP modules are dropped:
    transformers' DeepSeek-V3 has none)."""
    from transformers import DeepseekV3ForCausalLM

    hf_model = DeepseekV3ForCausalLM(model.config.to_hf()).to(model.embed.weight.dtype)
    state = to_hf_state_dict(model, include_mtp=False)
    missing, unexpected = hf_model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.endswith("inv_freq")]:
        raise ValueError(f"to_transformers: missing keys {missing}, unexpected keys {unexpected}")
    return hf_model.eval()
