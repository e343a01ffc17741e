"""Attention in MLA's absorbed form, over the compressed latent cache.

V3 paper §2.1.1, eq. 1-11, with the key up-projection folded into the query ("absorbed"): per head,
`score_{t,s} = (q_lat_t · c_s + q_pe_t · k_pe_s) · scale` where `c_s` is the cached latent
`c^{KV}_s` [kv_lora_rank] and `k_pe_s` the shared roped key [rope_dim]; the output stays in latent
space, `o_lat_t = Σ_s softmax(score)_{t,s} · c_s`, and the value up-projection is applied
afterwards.
"""

from __future__ import annotations

import torch

from r1mini.kernels.backend import wants_triton


def mla_attention_reference(
    q_lat: torch.Tensor,
    q_pe: torch.Tensor,
    kv: torch.Tensor,
    pe: torch.Tensor,
    scale: float,
    mask: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Absorbed attention with explicit probabilities.

    Args:
        q_lat: [B, T, H, C] queries in latent space. q_pe: [B, T, H, R] roped query parts.
        kv: [B, S, C] latent cache. pe: [B, S, R] roped key cache.
        mask: [B or 1, T, S] bool, True where a key may be attended; None attends everywhere.
    Returns:
        out_lat: [B, T, H, C] and probs: [B, H, T, S] (fp32).
    """
    batch, seq, heads, rank = q_lat.shape
    rows_lat = q_lat.reshape(batch, seq * heads, rank)  # [B, T·H, C]: one row per query and head
    rows_pe = q_pe.reshape(batch, seq * heads, -1)  # [B, T·H, R]
    scores = torch.baddbmm(rows_pe @ pe.transpose(1, 2), rows_lat, kv.transpose(1, 2))  # [B, T·H, S]
    scores = scores.view(batch, seq, heads, -1).float() * scale  # [B, T, H, S]
    if mask is not None:
        scores = scores.masked_fill(~mask[:, :, None], float("-inf"))
    probs = scores.softmax(dim=-1)  # [B, T, H, S]
    out_lat = torch.bmm(probs.to(kv.dtype).view(batch, seq * heads, -1), kv)  # [B, T·H, C]
    return out_lat.view(batch, seq, heads, rank), probs.transpose(1, 2)  # [B, T, H, C], [B, H, T, S]


def mla_attention(
    q_lat: torch.Tensor,
    q_pe: torch.Tensor,
    kv: torch.Tensor,
    pe: torch.Tensor,
    scale: float,
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """Absorbed attention through the chosen backend; shapes as in the reference. -> out_lat."""
    if wants_triton(q_lat):
        from r1mini.kernels.mla_attention_triton import mla_attention_triton

        return mla_attention_triton(q_lat, q_pe, kv, pe, scale, mask)
    return mla_attention_reference(q_lat, q_pe, kv, pe, scale, mask)[0]
