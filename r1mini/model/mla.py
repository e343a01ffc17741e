"""Multi-head Latent Attention (MLA), V3 paper §2.1.1, eq. 1-11 (introduced in DeepSeek-V2 §2.1).

Keys and values are compressed into one latent `c^{KV}_t = W^{DKV} h_t` of width `kv_lora_rank`
(eq. 1), from which every head's keys and values are re-expanded (`W^{UK}`, `W^{UV}`, eq. 2 and 5;
both halves of `wkv_b` here). Position enters only through a small decoupled key `k^R_t` of width
`qk_rope_head_dim`, shared by all heads (eq. 3), and a per-head roped query part (eq. 8). Queries
are compressed too when `q_lora_rank > 0` (eq. 6-7).

Two equivalent ways to run it, side by side as in DeepSeek's `inference/model.py`:
- "naive" expands the latent into full per-head keys/values and caches them:
  `[B, T, H, nope + rope]` and `[B, T, H, v]` per layer.
- "absorb" folds `W^{UK}` into the query and `W^{UV}` into the output, so attention runs in latent
  space and the cache holds only `c^{KV}` `[B, T, kv_lora_rank]` and `k^R` `[B, T, rope]`.
"""

from __future__ import annotations

import torch
from torch import nn

from r1mini.config import ModelConfig
from r1mini.kernels import mla_attention, mla_attention_reference
from r1mini.model.fp8 import dequantized
from r1mini.model.norm import RMSNorm
from r1mini.model.rope import apply_rope, softmax_scale


class MLA(nn.Module):
    """Multi-head latent attention with a KV cache for incremental decoding.

    Attributes:
        wq / (wq_a, q_norm, wq_b): query projection, direct or through the `q_lora_rank` latent.
        wkv_a: `dim -> kv_lora_rank + rope`: the KV latent and the shared roped key, in one matmul.
        kv_norm: RMSNorm on the KV latent.
        wkv_b: `kv_lora_rank -> H·(nope + v)`: per-head key (no position) and value up-projection.
        wo: `H·v -> dim` output projection.
        attn_impl: "naive" or "absorb" (from the config).
        cache: the per-layer KV cache, allocated on a prefill (`start_pos == 0`), grown as needed.
        record: when a list, each forward appends its attention probabilities `[B, H, T, S]`.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c = config
        self.n_heads, self.nope, self.rope_dim, self.v_dim = (
            c.n_heads,
            c.qk_nope_head_dim,
            c.qk_rope_head_dim,
            c.v_head_dim,
        )
        self.kv_rank = c.kv_lora_rank
        self.max_seq_len = c.max_seq_len
        self.attn_impl = c.attn_impl
        self.scale = softmax_scale(c)
        if c.q_lora_rank == 0:
            self.wq = nn.Linear(c.dim, c.n_heads * c.qk_head_dim, bias=False)
        else:
            self.wq_a = nn.Linear(c.dim, c.q_lora_rank, bias=False)
            self.q_norm = RMSNorm(c.q_lora_rank, c.norm_eps)
            self.wq_b = nn.Linear(c.q_lora_rank, c.n_heads * c.qk_head_dim, bias=False)
        self.wkv_a = nn.Linear(c.dim, c.kv_lora_rank + c.qk_rope_head_dim, bias=False)
        self.kv_norm = RMSNorm(c.kv_lora_rank, c.norm_eps)
        self.wkv_b = nn.Linear(c.kv_lora_rank, c.n_heads * (c.qk_nope_head_dim + c.v_head_dim), False)
        self.wo = nn.Linear(c.n_heads * c.v_head_dim, c.dim, bias=False)
        self.cache: dict[str, torch.Tensor] = {}
        self.cache_len = 0
        self.record: list[torch.Tensor] | None = None

    def forward(
        self,
        x: torch.Tensor,
        start_pos: int,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """x: [B, T, dim] at positions `start_pos ..`; rope: cos, sin [T, rope/2];
        mask: [B or 1, T, S] bool (True = may attend) or None, with S = start_pos + T.
        Returns [B, T, dim]."""
        batch, seq, _ = x.shape
        cos, sin = rope
        q = self.wq(x) if hasattr(self, "wq") else self.wq_b(self.q_norm(self.wq_a(x)))
        q = q.view(batch, seq, self.n_heads, self.nope + self.rope_dim)  # [B, T, H, nope+rope]
        q_nope, q_pe = q.split([self.nope, self.rope_dim], dim=-1)
        q_pe = apply_rope(q_pe, cos, sin)  # [B, T, H, rope]
        latent, k_pe = self.wkv_a(x).split([self.kv_rank, self.rope_dim], dim=-1)
        latent = self.kv_norm(latent)  # [B, T, kv_rank]: c^{KV}, eq. 1
        k_pe = apply_rope(k_pe, cos, sin)  # [B, T, rope]: k^R, eq. 3, shared by all heads
        if self.attn_impl == "naive":
            out = self._naive(q_nope, q_pe, latent, k_pe, start_pos, mask)
        else:
            out = self._absorb(q_nope, q_pe, latent, k_pe, start_pos, mask)
        self.cache_len = start_pos + seq
        return self.wo(out.flatten(2))  # [B, T, H·v] -> [B, T, dim]

    def _naive(self, q_nope, q_pe, latent, k_pe, start_pos, mask) -> torch.Tensor:
        """Expand the latent to per-head keys/values (eq. 2, 4, 5) and cache them."""
        batch, seq, heads, _ = q_nope.shape
        kv = self.wkv_b(latent).view(batch, seq, heads, self.nope + self.v_dim)  # [B, T, H, nope+v]
        k_nope, v = kv.split([self.nope, self.v_dim], dim=-1)
        k = torch.cat([k_nope, k_pe[:, :, None].expand(-1, -1, heads, -1)], dim=-1)  # [B,T,H,nope+r]
        k = self._cached("k", k, start_pos)  # [B, S, H, nope+rope]
        v = self._cached("v", v, start_pos)  # [B, S, H, v]
        q = torch.cat([q_nope, q_pe], dim=-1)  # [B, T, H, nope+rope]
        scores = torch.einsum("bthd,bshd->bhts", q, k).float() * self.scale  # [B, H, T, S]
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None], float("-inf"))
        probs = scores.softmax(dim=-1)  # [B, H, T, S]
        if self.record is not None:
            self.record.append(probs.detach())
        return torch.einsum("bhts,bshd->bthd", probs.to(v.dtype), v)  # [B, T, H, v]

    def _absorb(self, q_nope, q_pe, latent, k_pe, start_pos, mask) -> torch.Tensor:
        """Attend in latent space: `q_nope·W^{UK}` against the cached `c^{KV}` (DeepSeek-V2 §2.1.2)."""
        w_kv_b = dequantized(self.wkv_b, q_nope.dtype)  # [H·(nope + v), C] (FP8 checkpoints: dequantised)
        w_kv_b = w_kv_b.view(self.n_heads, self.nope + self.v_dim, self.kv_rank)
        w_uk, w_uv = w_kv_b.split([self.nope, self.v_dim], dim=1)  # [H, nope, C], [H, v, C]
        q_lat = torch.einsum("bthd,hdc->bthc", q_nope, w_uk)  # [B, T, H, C]
        latent = self._cached("latent", latent, start_pos)  # [B, S, C]
        k_pe = self._cached("k_pe", k_pe, start_pos)  # [B, S, rope]
        if self.record is not None:
            out_lat, probs = mla_attention_reference(q_lat, q_pe, latent, k_pe, self.scale, mask)
            self.record.append(probs.detach())
        else:
            out_lat = mla_attention(q_lat, q_pe, latent, k_pe, self.scale, mask)  # [B, T, H, C]
        return torch.einsum("bthc,hvc->bthv", out_lat, w_uv)  # [B, T, H, v]

    def _cached(self, name: str, new: torch.Tensor, start_pos: int) -> torch.Tensor:
        """Write `new` [B, T, ...] at `start_pos` into the cache; return positions `0 .. start_pos+T`.

        A prefill (`start_pos == 0`) attends to its own fresh tensors, so gradients flow in training;
        decoding reads the cache. The buffer is allocated on a prefill and doubled when it fills up.
        """
        batch, seq = new.shape[:2]
        end = start_pos + seq
        buf = self.cache.get(name)
        if buf is None or buf.shape[0] != batch or buf.shape[1] < end or buf.dtype != new.dtype:
            capacity = min(self.max_seq_len, max(end, 64, 2 * (0 if buf is None else buf.shape[1])))
            grown = new.new_empty(batch, capacity, *new.shape[2:])
            if start_pos:
                grown[:, :start_pos] = buf[:, :start_pos]
            buf = self.cache[name] = grown
        buf[:, start_pos:end] = new.detach()
        if start_pos == 0:
            return new
        if torch.is_grad_enabled():
            return torch.cat([buf[:, :start_pos], new], dim=1)  # keep the graph through `new`
        return buf[:, :end]

    def keep_cache_rows(self, keep: torch.Tensor) -> None:
        """Keep only the batch rows where `keep` [B] is True (e.g. drop finished sequences)."""
        self.cache = {name: buf[keep] for name, buf in self.cache.items()}  # [B_kept, capacity, ...]

    def reset_cache(self) -> None:
        self.cache.clear()
        self.cache_len = 0
