"""Split-KV decoding ("flash decoding") in PyTorch: attention over each range of the cache on its
own, then the exact log-sum-exp merge. The reference for what `mla_attention_triton` does when it
decodes (`_mla_fwd` with several splits, then `_merge_splits`).

Decoding (T = 1) gives MLA few query rows, too few programs to fill a GPU, so the kernel cuts the
cache into ranges of `split_len` positions and gives each range its own programs. Range j returns
its normalised partial output and the log of its softmax denominator; the merge reweights them:

    per range j:  lse_j = log Σ_{s∈j} exp(score_s),   o_j = Σ_{s∈j} exp(score_s − lse_j) · c_s
    merge:        lse   = log Σ_j exp(lse_j),          out = Σ_j exp(lse_j − lse) · o_j

The merge is exact, not an approximation: `exp(lse_j − lse)` is the share of the softmax mass that
falls in range j, so the reweighted partials add up to the softmax over the whole cache. Scores are
MLA's absorbed ones (V3 paper §2.1.1, as `mla_attention_reference`): `(q_lat·c_s + q_pe·k_pe_s) ·
scale`, with the latent `c_s` as both key and value. Flash-Decoding (Dao et al., 2023) introduced
the split; FlashMLA decodes MLA the same way.
"""

from __future__ import annotations

import torch


def split_ranges(S: int, split_len: int) -> list[tuple[int, int]]:
    """The cache ranges [start, end) of `split_len` positions (the last may be shorter)."""
    if S < 1 or split_len < 1:
        raise ValueError(f"S={S} and split_len={split_len} must both be >= 1")
    return [(start, min(start + split_len, S)) for start in range(0, S, split_len)]


def split_attention(
    q_lat: torch.Tensor,
    q_pe: torch.Tensor,
    kv: torch.Tensor,
    pe: torch.Tensor,
    scale: float,
    split_len: int,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each cache range's partial attention, in fp32.

    Args:
        q_lat: [B, T, H, C], q_pe: [B, T, H, R]; kv: [B, S, C], pe: [B, S, R] (as
            `mla_attention_reference`). mask: [B or 1, T, S] bool, True where a key may be attended.
        split_len: positions per range (`split_ranges`).
    Returns:
        o_parts: [B, T, H, J, C] each range's normalised output (zero where a row sees no key of
        the range) and lse_parts: [B, T, H, J] the log of each range's softmax denominator
        (-inf where a row sees no key of the range).
    """
    S = kv.shape[1]
    scores = torch.einsum("bthc,bsc->bths", q_lat.float(), kv.float())
    scores = (scores + torch.einsum("bthr,bsr->bths", q_pe.float(), pe.float())) * scale
    if mask is not None:  # [B, T, H, S]
        scores = scores.masked_fill(~mask[:, :, None], float("-inf"))
    o_parts, lse_parts = [], []
    for start, end in split_ranges(S, split_len):
        part = scores[..., start:end]  # [B, T, H, S_j]
        lse = torch.logsumexp(part, dim=-1)  # [B, T, H]
        seen = torch.isfinite(lse)
        probs = torch.exp(part - torch.where(seen, lse, 0.0)[..., None])  # [B, T, H, S_j]
        o_parts.append(torch.einsum("bths,bsc->bthc", probs, kv[:, start:end].float()))
        lse_parts.append(lse)
    return torch.stack(o_parts, dim=3), torch.stack(lse_parts, dim=3)


def merge_weights(lse_parts: torch.Tensor) -> torch.Tensor:
    """[..., J] -> [..., J]: `exp(lse_j − lse)`, each range's share of the softmax mass (zeros for
    a row that sees no key at all)."""
    lse = torch.logsumexp(lse_parts, dim=-1, keepdim=True)  # [..., 1]
    return torch.where(torch.isfinite(lse), torch.exp(lse_parts - lse), 0.0)


def merge_splits(o_parts: torch.Tensor, lse_parts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact merge: o_parts [..., J, C], lse_parts [..., J] -> out [..., C], lse [...]."""
    out = (merge_weights(lse_parts)[..., None] * o_parts).sum(dim=-2)  # [..., C]
    return out, torch.logsumexp(lse_parts, dim=-1)
