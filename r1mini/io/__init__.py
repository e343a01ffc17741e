"""Checkpoints (safetensors + config JSON, atomic) and Hugging Face DeepSeek-V3 interop."""

from r1mini.io.checkpoint import atomic_write, load, load_config, load_state_dict, save
from r1mini.io.hf import from_hf_state_dict, from_transformers, to_hf_state_dict, to_transformers

__all__ = [
    "atomic_write",
    "from_hf_state_dict",
    "from_transformers",
    "load",
    "load_config",
    "load_state_dict",
    "save",
    "to_hf_state_dict",
    "to_transformers",
]
