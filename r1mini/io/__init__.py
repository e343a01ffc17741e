"""Checkpoints (safetensors + config JSON, atomic), Hugging Face DeepSeek-V3 interop (configs and
weights), and FP8 weight rounding (V3 §3.3)."""

from r1mini.io.checkpoint import atomic_write, load, load_config, load_state_dict, save
from r1mini.io.fp8 import round_weights_to_fp8_, tensor_quant, weight_quant
from r1mini.io.hf import (
    config_from_hf,
    config_to_hf,
    from_hf_state_dict,
    from_transformers,
    to_hf_state_dict,
    to_transformers,
)

__all__ = [
    "atomic_write",
    "config_from_hf",
    "config_to_hf",
    "from_hf_state_dict",
    "from_transformers",
    "load",
    "load_config",
    "load_state_dict",
    "round_weights_to_fp8_",
    "save",
    "tensor_quant",
    "to_hf_state_dict",
    "to_transformers",
    "weight_quant",
]
