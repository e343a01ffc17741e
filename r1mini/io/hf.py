"""Configs and weights to and from Hugging Face `transformers`' DeepSeek-V3 (`DeepseekV3ForCausalLM`).

`config_from_hf` reads a `DeepseekV3Config` (or `DeepseekV2Config`) into a `ModelConfig`, refusing
what r1mini cannot represent; `config_to_hf` writes the equivalent `DeepseekV3Config`.

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


def config_from_hf(hf_config: Any, **overrides: Any) -> ModelConfig:
    """Convert a `transformers.DeepseekV3Config` or `DeepseekV2Config` (V2: softmax gate, group
    score = best expert, `topk_method` "greedy" meaning a single group)."""
    c = hf_config
    v2 = getattr(c, "model_type", "") == "deepseek_v2"
    single_group = v2 and getattr(c, "topk_method", "greedy") == "greedy"
    unsupported = {
        "rope_interleave": (getattr(c, "rope_interleave", True), True),
        "attention_bias": (getattr(c, "attention_bias", False), False),
        "hidden_act": (getattr(c, "hidden_act", "silu"), "silu"),
        "num_key_value_heads": (
            getattr(c, "num_key_value_heads", c.num_attention_heads),
            c.num_attention_heads,
        ),
    }
    for field, (value, needed) in unsupported.items():
        if value != needed:
            raise ValueError(f"config_from_hf: {field}={value!r} is not supported; r1mini needs {needed!r}")
    rope = dict(getattr(c, "rope_parameters", None) or {})
    yarn = rope.get("rope_type", "default") == "yarn"
    fields = dict(
        name=getattr(c, "name_or_path", "") or "from-hf",
        vocab_size=c.vocab_size,
        dim=c.hidden_size,
        inter_dim=c.intermediate_size,
        moe_inter_dim=c.moe_intermediate_size,
        n_layers=c.num_hidden_layers,
        n_dense_layers=min(c.first_k_dense_replace, c.num_hidden_layers),
        n_heads=c.num_attention_heads,
        n_routed_experts=c.n_routed_experts,
        n_shared_experts=c.n_shared_experts,
        n_activated_experts=c.num_experts_per_tok,
        n_expert_groups=1 if single_group else c.n_group,
        n_limited_groups=1 if single_group else c.topk_group,
        score_func="softmax" if v2 else "sigmoid",
        route_scale=float(c.routed_scaling_factor),
        norm_topk_prob=bool(c.norm_topk_prob),
        q_lora_rank=c.q_lora_rank or 0,
        kv_lora_rank=c.kv_lora_rank,
        qk_nope_head_dim=c.qk_nope_head_dim,
        qk_rope_head_dim=c.qk_rope_head_dim,
        v_head_dim=c.v_head_dim,
        max_seq_len=c.max_position_embeddings,
        original_seq_len=int(rope.get("original_max_position_embeddings", c.max_position_embeddings)),
        rope_theta=float(rope.get("rope_theta", 10000.0)),
        rope_factor=1.0,
        n_mtp_layers=getattr(c, "num_nextn_predict_layers", 0) or 0,
        norm_eps=c.rms_norm_eps,
        init_std=c.initializer_range,
        tie_embeddings=bool(getattr(c, "tie_word_embeddings", False)),
    )
    if yarn:
        fields.update(
            rope_factor=float(rope["factor"]),
            beta_fast=float(rope.get("beta_fast") or 32.0),
            beta_slow=float(rope.get("beta_slow") or 1.0),
            mscale=float(rope.get("mscale") or 0.0),
            mscale_all_dim=float(rope.get("mscale_all_dim") or 0.0),
        )
    return ModelConfig(**{**fields, **overrides})


def config_to_hf(config: ModelConfig) -> Any:
    """The equivalent `transformers.DeepseekV3Config` (needs `transformers`)."""
    from transformers import DeepseekV3Config

    if config.score_func != "sigmoid":
        raise ValueError(
            f"config_to_hf: score_func={config.score_func!r}; transformers' DeepseekV3 only routes with "
            "'sigmoid' (V2 presets use softmax)"
        )
    rope: dict[str, Any] = {"rope_type": "default", "rope_theta": config.rope_theta}
    if config.uses_yarn:
        rope.update(
            rope_type="yarn",
            factor=config.rope_factor,
            original_max_position_embeddings=config.original_seq_len,
            beta_fast=config.beta_fast,
            beta_slow=config.beta_slow,
            mscale=config.mscale,
            mscale_all_dim=config.mscale_all_dim,
        )
    return DeepseekV3Config(
        vocab_size=config.vocab_size,
        hidden_size=config.dim,
        intermediate_size=config.inter_dim,
        moe_intermediate_size=config.moe_inter_dim,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_heads,
        n_shared_experts=config.n_shared_experts,
        n_routed_experts=config.n_routed_experts,
        routed_scaling_factor=config.route_scale,
        kv_lora_rank=config.kv_lora_rank,
        q_lora_rank=config.q_lora_rank or None,
        qk_rope_head_dim=config.qk_rope_head_dim,
        v_head_dim=config.v_head_dim,
        qk_nope_head_dim=config.qk_nope_head_dim,
        n_group=config.n_expert_groups,
        topk_group=config.n_limited_groups,
        num_experts_per_tok=config.n_activated_experts,
        first_k_dense_replace=config.n_dense_layers,
        norm_topk_prob=config.norm_topk_prob,
        max_position_embeddings=config.max_seq_len,
        initializer_range=config.init_std,
        rms_norm_eps=config.norm_eps,
        tie_word_embeddings=config.tie_embeddings,
        rope_parameters=rope,
        rope_interleave=True,
        num_nextn_predict_layers=config.n_mtp_layers,
    )


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

    config = config_from_hf(hf_model.config, n_mtp_layers=0, **config_overrides)
    model = Transformer(config).to(next(hf_model.parameters()).dtype)
    load_state_dict(model, from_hf_state_dict(hf_model.state_dict(), config))
    return model


def to_transformers(model: Transformer) -> Any:
    """A `transformers.DeepseekV3ForCausalLM` holding `model`'s weights (MTP modules are dropped:
    transformers' DeepSeek-V3 has none)."""
    from transformers import DeepseekV3ForCausalLM

    hf_model = DeepseekV3ForCausalLM(config_to_hf(model.config)).to(model.embed.weight.dtype)
    state = to_hf_state_dict(model, include_mtp=False)
    missing, unexpected = hf_model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.endswith("inv_freq")]:
        raise ValueError(f"to_transformers: missing keys {missing}, unexpected keys {unexpected}")
    return hf_model.eval()
