"""Multi-token prediction (MTP), V3 paper §2.2, eq. 21-25.

Module `k` predicts the token `k + 1` steps ahead. At position `i` it combines the previous depth's
representation `h^{k-1}_i` with the embedding of the next known token `t_{i+k}` through a projection
`M_k` (eq. 21), runs one transformer block (eq. 22), and reuses the main model's embedding and output
head (eq. 23). We concatenate `[RMSNorm(Emb(t)); RMSNorm(h)]` in this order, the layout of the
released checkpoints (`eh_proj`); the paper writes the two halves the other way round.
"""

from __future__ import annotations

import torch
from torch import nn

from r1mini.config import ModelConfig
from r1mini.model.block import Block
from r1mini.model.norm import RMSNorm


class MTPModule(nn.Module):
    """Attributes: enorm, hnorm (RMSNorms of the embedding and of `h`), eh_proj (`M_k`,
    2·dim -> dim), block (a full DeepSeek-V3 block), norm (the final norm before the shared head)."""

    def __init__(self, config: ModelConfig, layer_id: int) -> None:
        super().__init__()
        self.enorm = RMSNorm(config.dim, config.norm_eps)
        self.hnorm = RMSNorm(config.dim, config.norm_eps)
        self.eh_proj = nn.Linear(2 * config.dim, config.dim, bias=False)
        self.block = Block(config, layer_id)
        self.norm = RMSNorm(config.dim, config.norm_eps)

    def forward(
        self,
        h: torch.Tensor,
        next_emb: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """h: [B, T, dim] previous depth; next_emb: [B, T, dim] embeddings of the tokens one step
        ahead. Returns this depth's representation [B, T, dim] (before `norm`)."""
        x = self.eh_proj(torch.cat([self.enorm(next_emb), self.hnorm(h)], dim=-1))  # eq. 21
        return self.block(x, 0, rope, mask, use_cache=False)  # eq. 22; never decodes
