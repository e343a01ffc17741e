"""One pre-norm transformer block of DeepSeek-V3: MLA, then a dense SwiGLU or a DeepSeekMoE layer.

V3 paper §2.1 (Figure 2): `h = x + MLA(RMSNorm(x))`, `out = h + FFN(RMSNorm(h))`, where the FFN is
dense for the first `n_dense_layers` blocks and MoE for the rest.
"""

from __future__ import annotations

import torch
from torch import nn

from r1mini.config import ModelConfig
from r1mini.model.mla import MLA
from r1mini.model.moe import MLP, MoE
from r1mini.model.norm import RMSNorm


class Block(nn.Module):
    """Attributes: attn_norm, attn (MLA), ffn_norm, ffn (MLP or MoE), layer_id."""

    def __init__(self, config: ModelConfig, layer_id: int) -> None:
        super().__init__()
        self.layer_id = layer_id
        self.attn_norm = RMSNorm(config.dim, config.norm_eps)
        self.attn = MLA(config)
        self.ffn_norm = RMSNorm(config.dim, config.norm_eps)
        dense = layer_id < config.n_dense_layers
        self.ffn = MLP(config.dim, config.inter_dim) if dense else MoE(config)

    def forward(
        self,
        x: torch.Tensor,
        start_pos: int,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """x: [B, T, dim] -> [B, T, dim]; `use_cache` as in `MLA.forward`."""
        x = x + self.attn(self.attn_norm(x), start_pos, rope, mask, use_cache)
        return x + self.ffn(self.ffn_norm(x))
