"""The checkpoint format DeepSeek publishes (DeepSeek-V3, V3-0324, R1, R1-0528; V2 and V2-Lite).

A published directory holds `config.json` (`model_type` "deepseek_v3" or "deepseek_v2"),
`model.safetensors.index.json` (its `weight_map` names the shard file of every tensor) and the
shards. Tensor names are Hugging Face's (`model.layers.L.self_attn.q_a_proj.weight`, …); every
routed expert is listed on its own (`model.layers.L.mlp.experts.E.gate_proj.weight`); the MTP
module sits at layer `num_hidden_layers` (`model.layers.61.*` at 671B: `enorm`, `hnorm`,
`eh_proj`, `shared_head.norm`, a full block, and copies of the embedding and head).

V3 and R1 ship FP8 (V3 paper §3.3; `config.json` has `quantization_config` {"fmt": "e4m3",
"weight_block_size": [128, 128]}): every linear weight of the blocks is `float8_e4m3fn`, each with a
float32 `weight_scale_inv` holding one scale per 128×128 block, edge blocks ragged
(`ceil(rows/128) × ceil(cols/128)`); `w ≈ w_fp8 · scale_inv` blockwise. The embedding, the head,
the norms, the router's weight (bf16), its `e_score_correction_bias` (fp32) and the MTP's `eh_proj`
stay in higher precision.

This file maps that format to r1mini: `read_config` (config.json → `ModelConfig`),
`expected_tensors` (every name and shape a config implies, scales included), `target` (published
name → r1mini parameter, expert index), and `save_published`, which writes a model in exactly this
format (how the tests and chapter 10 make checkpoints to load without the 690 GB download).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from safetensors.torch import save_file

from r1mini.config import ModelConfig
from r1mini.fp8_format import BLOCK, weight_scale_shape
from r1mini.io.atomic import atomic_write
from r1mini.io.fp8 import weight_quant
from r1mini.io.hf import BLOCK_NAMES, MTP_NAMES, config_from_hf, to_hf_state_dict
from r1mini.model import Transformer

CONFIG, INDEX, SCALE = "config.json", "model.safetensors.index.json", "weight_scale_inv"
MODEL_TYPES = ("deepseek_v3", "deepseek_v2")
EXPERT_NAMES = {"gate_proj": "w1", "down_proj": "w2", "up_proj": "w3"}  # published -> r1mini Experts
MTP_SHARED = ("embed_tokens.weight", "shared_head.head.weight")  # copies of the main embedding/head
HIGH_PRECISION = ("mlp.gate.weight", "eh_proj.weight")  # 2-D weights the release keeps in bf16


# ---- config.json ----------------------------------------------------------------------------------
def read_config(directory: str | Path, **overrides: Any) -> tuple[ModelConfig, bool]:
    """The `ModelConfig` of a published directory and whether its weights are FP8."""
    path = Path(directory) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: not a published DeepSeek checkpoint directory")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from e
    return config_from_dict(raw, str(path), **overrides), is_fp8(raw, str(path))


def config_from_dict(raw: dict[str, Any], where: str = CONFIG, **overrides: Any) -> ModelConfig:
    """A published config.json's fields as a `ModelConfig` (through `config_from_hf`)."""
    model_type = raw.get("model_type")
    if model_type not in MODEL_TYPES:
        raise ValueError(
            f"{where}: model_type={model_type!r} is not one r1mini loads; it reads {MODEL_TYPES}"
        )
    rope = dict(raw.get("rope_scaling") or raw.get("rope_parameters") or {})
    rope["rope_type"] = rope.get("rope_type", rope.get("type", "default"))
    rope.setdefault("rope_theta", raw.get("rope_theta", 10000.0))
    fields = {**raw, "rope_parameters": rope}
    fields.setdefault("first_k_dense_replace", 0)
    try:
        return config_from_hf(SimpleNamespace(**fields), **{"name": model_type, **overrides})
    except AttributeError as e:
        raise ValueError(f"{where} lacks a field a {model_type} config needs ({e})") from e


def is_fp8(raw: dict[str, Any], where: str = CONFIG) -> bool:
    """Whether config.json declares DeepSeek's FP8 weights; any other quantisation is refused."""
    quant = raw.get("quantization_config")
    if quant is None:
        return False
    expected = {"fmt": "e4m3", "weight_block_size": [BLOCK, BLOCK]}
    found = {key: quant.get(key) for key in expected}
    if found != expected:
        raise ValueError(f"{where}: quantization_config {found} is not DeepSeek's FP8 {expected}")
    return True


def published_config(config: ModelConfig, fp8: bool) -> dict[str, Any]:
    """The config.json DeepSeek would publish for `config` (the fields its loaders read)."""
    v2 = config.score_func == "softmax"
    raw: dict[str, Any] = {
        "architectures": ["DeepseekV2ForCausalLM" if v2 else "DeepseekV3ForCausalLM"],
        "model_type": "deepseek_v2" if v2 else "deepseek_v3",
        "vocab_size": config.vocab_size,
        "hidden_size": config.dim,
        "intermediate_size": config.inter_dim,
        "moe_intermediate_size": config.moe_inter_dim,
        "num_hidden_layers": config.n_layers,
        "first_k_dense_replace": config.n_dense_layers,
        "moe_layer_freq": 1,
        "num_attention_heads": config.n_heads,
        "num_key_value_heads": config.n_heads,
        "n_routed_experts": config.n_routed_experts,
        "n_shared_experts": config.n_shared_experts,
        "num_experts_per_tok": config.n_activated_experts,
        "n_group": config.n_expert_groups,
        "topk_group": config.n_limited_groups,
        "topk_method": ("group_limited_greedy" if config.n_expert_groups > 1 else "greedy")
        if v2
        else "noaux_tc",
        "scoring_func": config.score_func,
        "routed_scaling_factor": config.route_scale,
        "norm_topk_prob": config.norm_topk_prob,
        "q_lora_rank": config.q_lora_rank or None,
        "kv_lora_rank": config.kv_lora_rank,
        "qk_nope_head_dim": config.qk_nope_head_dim,
        "qk_rope_head_dim": config.qk_rope_head_dim,
        "v_head_dim": config.v_head_dim,
        "max_position_embeddings": config.max_seq_len,
        "rope_theta": config.rope_theta,
        "rope_scaling": None,
        "num_nextn_predict_layers": config.n_mtp_layers,
        "rms_norm_eps": config.norm_eps,
        "initializer_range": config.init_std,
        "tie_word_embeddings": config.tie_embeddings,
        "hidden_act": "silu",
        "attention_bias": False,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "torch_dtype": "bfloat16",
    }
    if config.uses_yarn:
        raw["rope_scaling"] = {
            "type": "yarn",
            "factor": config.rope_factor,
            "original_max_position_embeddings": config.original_seq_len,
            "beta_fast": config.beta_fast,
            "beta_slow": config.beta_slow,
            "mscale": config.mscale,
            "mscale_all_dim": config.mscale_all_dim,
        }
    if fp8:
        raw["quantization_config"] = {
            "activation_scheme": "dynamic",
            "fmt": "e4m3",
            "quant_method": "fp8",
            "weight_block_size": [BLOCK, BLOCK],
        }
    return raw


# ---- names ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """Where a published tensor goes in r1mini: the parameter `name`, the routed expert `expert`
    (a row of the stacked [E, ...] weight; None otherwise), and whether it is the weight's FP8
    `scale` (`weight_scale_inv`) rather than the weight. `shared` marks the MTP's copies of the
    embedding and head, which r1mini shares with the main model instead of loading twice."""

    name: str
    expert: int | None = None
    scale: bool = False
    shared: bool = False


_LAYER = re.compile(r"model\.layers\.(\d+)\.(.+)")
_EXPERT = re.compile(r"mlp\.experts\.(\d+)\.(gate_proj|up_proj|down_proj)\.weight")
_BACK = {hf: ours for ours, hf in BLOCK_NAMES.items()}
_MTP_BACK = {hf: ours for ours, hf in MTP_NAMES.items()}


def target(key: str, config: ModelConfig) -> Target | None:
    """The r1mini destination of the published tensor `key`, or None if r1mini has no such tensor."""
    scale = key.endswith("." + SCALE)
    if scale:
        key = key.removesuffix(SCALE) + "weight"
    top = {"model.embed_tokens.weight": "embed.weight", "model.norm.weight": "norm.weight"}
    top["lm_head.weight"] = "head.weight"
    if key in top:
        return Target(top[key], scale=scale)
    match = _LAYER.fullmatch(key)
    if match is None:
        return None
    layer, rest = int(match.group(1)), match.group(2)
    if layer < config.n_layers:
        prefix = f"layers.{layer}."
    elif layer < config.n_layers + config.n_mtp_layers:
        prefix = f"mtp.{layer - config.n_layers}."
        if rest in MTP_SHARED:
            return Target(prefix + rest, scale=scale, shared=True)
        if rest in _MTP_BACK:
            return Target(prefix + _MTP_BACK[rest], scale=scale)
        prefix += "block."
    else:
        return None
    expert = _EXPERT.fullmatch(rest)
    if expert is not None:
        return Target(f"{prefix}ffn.experts.{EXPERT_NAMES[expert.group(2)]}", int(expert.group(1)), scale)
    return Target(prefix + _BACK[rest], scale=scale) if rest in _BACK else None


def quantized(key: str) -> bool:
    """Whether the release stores the weight `key` in FP8: the 2-D linear weights of the blocks
    (attention, dense MLPs, shared and routed experts), not the router, the MTP's eh_proj, the
    embedding, the head or the norms."""
    match = _LAYER.fullmatch(key)
    if match is None:
        return False
    rest = match.group(2)
    return (
        rest.endswith(".weight")
        and "norm" not in rest
        and not rest.endswith(HIGH_PRECISION)
        and rest not in MTP_SHARED
    )


def expected_tensors(config: ModelConfig, fp8: bool) -> dict[str, tuple[int, ...]]:
    """Every tensor name a published checkpoint of `config` holds, with its shape: the names of
    `to_published_names` over the model built on the meta device, plus an FP8 scale per quantised
    weight when `fp8`. No weights are allocated, so it serves the 671B config too."""
    with torch.device("meta"):
        model = Transformer(config)
    shapes = {key: tuple(t.shape) for key, t in to_published_names(model).items()}
    if fp8:
        shapes.update(
            {
                key.removesuffix("weight") + SCALE: weight_scale_shape(*shape)
                for key, shape in shapes.items()
                if quantized(key)
            }
        )
    return shapes


def published_bytes(config: ModelConfig, fp8: bool = True) -> int:
    """Bytes of tensor data in a published checkpoint of `config` (what `save_published` writes):
    1 per FP8 weight, 4 per scale and router bias, 2 per bf16 value; the MTP's copies included."""
    total = 0
    for key, shape in expected_tensors(config, fp8).items():
        if key.endswith((SCALE, "e_score_correction_bias")):
            per = 4
        else:
            per = 1 if fp8 and quantized(key) else 2
        total += math.prod(shape) * per
    return total


def to_published_names(model: Transformer) -> dict[str, torch.Tensor]:
    """`model`'s tensors under the published names: `to_hf_state_dict`'s, with every routed expert
    on its own instead of transformers' fused [E, …] tensors."""
    out = {}
    for key, tensor in to_hf_state_dict(model).items():
        if key.endswith("mlp.experts.gate_up_proj"):
            base = key.removesuffix("gate_up_proj")
            gate, up = tensor.chunk(2, dim=1)  # [E, I, dim] each
            for e in range(tensor.shape[0]):
                out[f"{base}{e}.gate_proj.weight"], out[f"{base}{e}.up_proj.weight"] = gate[e], up[e]
        elif key.endswith("mlp.experts.down_proj"):
            base = key.removesuffix("down_proj")
            out.update({f"{base}{e}.down_proj.weight": down for e, down in enumerate(tensor)})  # [dim, I]
        else:
            out[key] = tensor
    return out


# ---- writing --------------------------------------------------------------------------------------
def save_published(
    model: Transformer, directory: str | Path, *, fp8: bool = True, max_shard_bytes: int = 5 * 2**30
) -> Path:
    """Write `model` as DeepSeek publishes a checkpoint: config.json, the index, and shards of at most
    `max_shard_bytes` (a tensor is never split), bf16 for high-precision weights, the router's bias
    in fp32, and with `fp8` every linear weight of the blocks as e4m3 with its `weight_scale_inv`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for key, tensor in to_published_names(model).items():
        tensor = tensor.detach().cpu()
        if fp8 and quantized(key):
            tensors[key], tensors[key.removesuffix("weight") + SCALE] = weight_quant(tensor)
        elif key.endswith("e_score_correction_bias"):
            tensors[key] = tensor.float().contiguous()
        else:
            tensors[key] = tensor.to(torch.bfloat16).contiguous()
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = tensor
        size += nbytes
    weight_map = {}
    for i, shard in enumerate(shards, start=1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        atomic_write(
            directory / name, lambda tmp, shard=shard: save_file(shard, tmp, metadata={"format": "pt"})
        )
        weight_map.update(dict.fromkeys(shard, name))
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    atomic_write(directory / INDEX, lambda tmp: Path(tmp).write_text(json.dumps(index, indent=2)))
    raw = published_config(model.config, fp8)
    atomic_write(directory / CONFIG, lambda tmp: Path(tmp).write_text(json.dumps(raw, indent=2)))
    return directory
