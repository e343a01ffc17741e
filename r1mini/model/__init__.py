"""The DeepSeek-V3 architecture (V3 paper §2): MLA, DeepSeekMoE, MTP, and the full stack."""

from r1mini.model.block import Block
from r1mini.model.compiled import compile_model
from r1mini.model.mla import MLA, causal_mask
from r1mini.model.moe import MLP, Experts, Gate, MoE, sequence_balance_loss
from r1mini.model.mtp import MTPModule
from r1mini.model.norm import RMSNorm
from r1mini.model.rope import RotaryEmbedding, apply_rope, yarn_inv_freq
from r1mini.model.transformer import Transformer

__all__ = [
    "MLA",
    "MLP",
    "Block",
    "Experts",
    "Gate",
    "MTPModule",
    "MoE",
    "RMSNorm",
    "RotaryEmbedding",
    "Transformer",
    "apply_rope",
    "causal_mask",
    "compile_model",
    "sequence_balance_loss",
    "yarn_inv_freq",
]
