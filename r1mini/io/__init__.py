"""Checkpoints (safetensors + config JSON + a manifest of SHA-256s, atomic, never pickle), Hugging
Face DeepSeek-V3 interop (configs and weights), the checkpoints DeepSeek publishes (`load_pretrained`,
FP8 or bf16, resident or streamed block by block; `save_published` writes that format), and FP8
weight rounding (V3 §3.3)."""

from r1mini.io.atomic import atomic_write
from r1mini.io.checkpoint import load, load_config, load_state_dict, save
from r1mini.io.fp8 import round_weights_to_fp8_, tensor_quant, weight_quant
from r1mini.io.hf import (
    config_from_hf,
    config_to_hf,
    from_hf_state_dict,
    from_transformers,
    to_hf_state_dict,
    to_transformers,
)
from r1mini.io.pretrained import load_pretrained
from r1mini.io.published import save_published

__all__ = [
    "atomic_write",
    "config_from_hf",
    "config_to_hf",
    "from_hf_state_dict",
    "from_transformers",
    "load",
    "load_config",
    "load_pretrained",
    "load_state_dict",
    "round_weights_to_fp8_",
    "save",
    "save_published",
    "tensor_quant",
    "to_hf_state_dict",
    "to_transformers",
    "weight_quant",
]
