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
"auto" (the default) caches the latent like "absorb" and picks the cheaper maths per call, as
FlashMLA and vLLM serve DeepSeek-V3: a whole sequence (training, a prefill) expands its keys and
values, since every key is new and expanded attention needs fewer operations per query-key pair
(`nope + rope + v` against `2·kv_lora_rank + rope`); a call that continues the cache (decoding)
attends in latent space, so the cached positions are never expanded again.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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
        attn_impl: "auto", "naive" or "absorb" (from the config).
        cache: the per-layer KV cache, allocated on a prefill (`start_pos == 0`), grown as needed.
        cache_len: positions the cache holds.
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
        use_cache: bool = True,
    ) -> torch.Tensor:
        """x: [B, T, dim] at positions `start_pos ..`; rope: cos, sin [T, rope/2];
        mask: [B or 1, T, S] bool (True = may attend), with S = start_pos + T, or None for plain
        causal attention (query `start_pos + t` sees keys `0 .. start_pos + t`, `causal_mask`);
        use_cache: store this call's keys/values (or latent) for later calls to continue from
        (a training forward has no use for them). Returns [B, T, dim]."""
        batch, seq, _ = x.shape
        cos, sin = rope
        q = self.wq(x) if hasattr(self, "wq") else self.wq_b(self.q_norm(self.wq_a(x)))
        q = q.view(batch, seq, self.n_heads, self.nope + self.rope_dim)  # [B, T, H, nope+rope]
        q_nope, q_pe = q.split([self.nope, self.rope_dim], dim=-1)
        q_pe = apply_rope(q_pe, cos, sin)  # [B, T, H, rope]
        latent, k_pe = self.wkv_a(x).split([self.kv_rank, self.rope_dim], dim=-1)
        latent = self.kv_norm(latent)  # [B, T, kv_rank]: c^{KV}, eq. 1
        k_pe = apply_rope(k_pe, cos, sin)  # [B, T, rope]: k^R, eq. 3, shared by all heads
        if self.attn_impl == "absorb" or (self.attn_impl == "auto" and start_pos > 0):
            out = self._absorb(q_nope, q_pe, latent, k_pe, start_pos, mask, use_cache)
        else:
            out = self._expanded(q_nope, q_pe, latent, k_pe, start_pos, mask, use_cache)
        if use_cache:
            self.cache_len = start_pos + seq
        return self.wo(out.flatten(2))  # [B, T, H·v] -> [B, T, dim]

    def _expanded(self, q_nope, q_pe, latent, k_pe, start_pos, mask, use_cache) -> torch.Tensor:
        """Expand the latent to per-head keys/values (eq. 2, 4, 5) and attend with them. "naive"
        caches the expanded keys/values; "auto" (whole sequences only) caches the latent."""
        batch, seq, heads, _ = q_nope.shape
        kv = self.wkv_b(latent).view(batch, seq, heads, self.nope + self.v_dim)  # [B, T, H, nope+v]
        k_nope, v = kv.split([self.nope, self.v_dim], dim=-1)
        k = torch.cat([k_nope, k_pe[:, :, None].expand(-1, -1, heads, -1)], dim=-1)  # [B,T,H,nope+r]
        if self.attn_impl == "naive":
            k = self._cached("k", k, start_pos, use_cache)  # [B, S, H, nope+rope]
            v = self._cached("v", v, start_pos, use_cache)  # [B, S, H, v]
        elif use_cache:
            self._store("latent", latent, start_pos)
            self._store("k_pe", k_pe, start_pos)
        q = torch.cat([q_nope, q_pe], dim=-1)  # [B, T, H, nope+rope]
        if self.record is None and not torch.compiler.is_compiling():
            return self._fused(q, k, v, start_pos, mask)
        # written out: to record the probabilities, or compiled (the compiler fuses the mask and
        # the softmax; on a CPU that beats its call to the fused kernel, r1mini/kernels/PERF.md)
        mask = causal_mask(start_pos, seq, q.device, None) if mask is None else mask
        scores = torch.einsum("bthd,bshd->bhts", q, k).float() * self.scale  # [B, H, T, S]
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None], float("-inf"))
        probs = scores.softmax(dim=-1)  # [B, H, T, S]
        if self.record is not None:
            self.record.append(probs.detach())
        return torch.einsum("bhts,bshd->bthd", probs.to(v.dtype), v)  # [B, T, H, v]

    def _fused(self, q, k, v, start_pos, mask) -> torch.Tensor:
        """`_expanded`'s attention through PyTorch's fused kernel (no probabilities kept): q [B, T, H, d],
        k [B, S, H, d], v [B, S, H, v] -> [B, T, H, v]. Its fast CPU kernel wants values as wide as
        keys, so v is zero-padded to d and the padding sliced off the output."""
        seq, width = q.shape[1], v.shape[-1]
        if mask is None and start_pos and seq > 1:
            mask = causal_mask(start_pos, seq, q.device, None)  # causal, offset by the cache
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            F.pad(v, (0, max(q.shape[-1] - width, 0))).transpose(1, 2),
            attn_mask=None if mask is None else mask[:, None],
            is_causal=mask is None and seq > 1,
            scale=self.scale,
        )  # [B, H, T, max(d, v)]
        return out.transpose(1, 2)[..., :width]  # [B, T, H, v]

    def _absorb(self, q_nope, q_pe, latent, k_pe, start_pos, mask, use_cache) -> torch.Tensor:
        """Attend in latent space: `q_nope·W^{UK}` against the cached `c^{KV}` (DeepSeek-V2 §2.1.2)."""
        w_kv_b = dequantized(self.wkv_b, q_nope.dtype)  # [H·(nope + v), C] (FP8 checkpoints: dequantised)
        w_kv_b = w_kv_b.view(self.n_heads, self.nope + self.v_dim, self.kv_rank)
        w_uk, w_uv = w_kv_b.split([self.nope, self.v_dim], dim=1)  # [H, nope, C], [H, v, C]
        q_lat = torch.einsum("bthd,hdc->bthc", q_nope, w_uk)  # [B, T, H, C]
        latent = self._cached("latent", latent, start_pos, use_cache)  # [B, S, C]
        k_pe = self._cached("k_pe", k_pe, start_pos, use_cache)  # [B, S, rope]
        mask = causal_mask(start_pos, q_lat.shape[1], q_lat.device, None) if mask is None else mask
        if self.record is not None:
            out_lat, probs = mla_attention_reference(q_lat, q_pe, latent, k_pe, self.scale, mask)
            self.record.append(probs.detach())
        else:
            out_lat = mla_attention(q_lat, q_pe, latent, k_pe, self.scale, mask)  # [B, T, H, C]
        return torch.einsum("bthc,hvc->bthv", out_lat, w_uv)  # [B, T, H, v]

    def _cached(self, name: str, new: torch.Tensor, start_pos: int, write: bool) -> torch.Tensor:
        """Positions `0 .. start_pos+T` of `name`: the cached first `start_pos`, then `new` [B, T, ...];
        `write` also stores `new` for later calls.

        A whole sequence (`start_pos == 0`) attends to its own fresh tensors, so gradients flow in
        training; a call that continues the cache reads it.
        """
        if write:
            self._store(name, new, start_pos)
        if start_pos == 0:
            return new
        if write and not torch.is_grad_enabled():
            return self.cache[name][:, : start_pos + new.shape[1]]
        return torch.cat([self.cache[name][:, :start_pos], new], dim=1)  # keeps the graph through `new`

    def _store(self, name: str, new: torch.Tensor, start_pos: int) -> None:
        """Write `new` [B, T, ...] into the cache at `start_pos`. The buffer is allocated on a prefill
        (`start_pos == 0`) and doubled when it fills up; under torch.compile it is allocated whole
        (`max_seq_len`), because each growth would compile another variant of the forward (as
        transformers' static cache does; at a long context, build the model with the
        `max_seq_len` its run needs)."""
        batch, seq = new.shape[:2]
        end = start_pos + seq
        buf = self.cache.get(name)
        if buf is None or buf.shape[0] != batch or buf.shape[1] < end or buf.dtype != new.dtype:
            capacity = min(self.max_seq_len, max(end, 64, 2 * (0 if buf is None else buf.shape[1])))
            if torch.compiler.is_compiling():
                capacity = self.max_seq_len
            grown = new.new_empty(batch, capacity, *new.shape[2:])
            if start_pos:
                grown[:, :start_pos] = buf[:, :start_pos]
            buf = self.cache[name] = grown
        buf[:, start_pos:end] = new.detach()

    def keep_cache_rows(self, keep: torch.Tensor) -> None:
        """Keep only the batch rows where `keep` [B] is True (e.g. drop finished sequences)."""
        self.cache = {name: buf[keep] for name, buf in self.cache.items()}  # [B_kept, capacity, ...]

    def reset_cache(self) -> None:
        self.cache.clear()
        self.cache_len = 0


def causal_mask(
    start_pos: int, seq: int, device: torch.device, attention_mask: torch.Tensor | None
) -> torch.Tensor | None:
    """[B or 1, T, S] bool, True where query `start_pos + t` may attend key `s` (S = start_pos + T);
    None when every key is allowed (one new token and no padding).

    attention_mask: optional [B, S] bool, False for padding keys, which are then hidden too.
    """
    if seq == 1 and attention_mask is None:
        return None
    keys = torch.arange(start_pos + seq, device=device)  # [S]
    queries = torch.arange(start_pos, start_pos + seq, device=device)  # [T]
    mask = (keys[None, :] <= queries[:, None])[None]  # [1, T, S]
    if attention_mask is not None:
        # padding keys are hidden; a padding query still sees itself, so its softmax stays finite
        itself = keys[None, None, :] == queries[None, :, None]  # [1, T, S]
        mask = mask & (attention_mask.bool()[:, None, :] | itself)  # [B, T, S]
    return mask
