"""r1mini: DeepSeek-V3/R1 at full and miniature size, written to be read.

`ModelConfig` holds every size; `Transformer` is the model; `count_parameters` says what it costs.
"""

from r1mini.accounting import count_parameters, kv_cache_bytes_per_token, weight_bytes
from r1mini.config import ModelConfig
from r1mini.model import Transformer

__all__ = [
    "ModelConfig",
    "Transformer",
    "count_parameters",
    "kv_cache_bytes_per_token",
    "weight_bytes",
]
