"""The DeepSeek-V3 model: embedding, `n_layers` blocks, final norm, output head, and MTP modules.

V3 paper §2 (Figure 2). `Transformer(config)(tokens, start_pos)` returns logits for every position;
calls with `start_pos > 0` continue from the KV cache left by earlier calls (incremental decoding).
Build it under `torch.device("meta")` to get the full 671B model without allocating its weights.

The same forward exports as a graph (`torch.export`, `torch.onnx.export(..., dynamo=True)`) for any
sequence length: while it is traced (`r1mini.kernels.backend.exporting()`), the checks that read token
values stay on the host (the caller's job, e.g. the tokenizer's), nothing is cached, the rotary
table is sliced in the graph, and the routed experts take their dense form
(`r1mini.kernels.moe_experts`), so no shape depends on the routing. `r1mini.io.onnx_export` exports
the shipped checkpoints that way. It compiles with `torch.compile` too (`r1mini.model.compiled`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from r1mini import checks
from r1mini.config import AttnImpl, ModelConfig
from r1mini.kernels.backend import exporting
from r1mini.model.block import Block
from r1mini.model.mla import causal_mask
from r1mini.model.moe import Experts, Gate, MoE, sequence_balance_loss
from r1mini.model.mtp import MTPModule
from r1mini.model.norm import RMSNorm
from r1mini.model.rope import RotaryEmbedding

RECOMPILE_LIMIT = 32  # variants of one compiled function before torch stops compiling it


class Transformer(nn.Module):
    """Attributes: config, embed, rope, layers (Blocks), norm, head, mtp (MTPModules)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.dim)
        self.rope = RotaryEmbedding(config)
        self.layers = nn.ModuleList(Block(config, i) for i in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.head = nn.Linear(config.dim, config.vocab_size, bias=False)
        self.mtp = nn.ModuleList(MTPModule(config, config.n_layers + k) for k in range(config.n_mtp_layers))
        self.apply(self._init_weights)
        if config.tie_embeddings:
            self.head.weight = self.embed.weight

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.init_std
        if isinstance(module, nn.Linear | nn.Embedding | Gate):
            nn.init.normal_(module.weight, std=std)
        elif isinstance(module, Experts):
            for w in (module.w1, module.w2, module.w3):
                nn.init.normal_(w, std=std)

    @property
    def device(self) -> torch.device:
        return self.embed.weight.device

    def forward(
        self,
        tokens: torch.Tensor,
        start_pos: int = 0,
        *,
        attention_mask: torch.Tensor | None = None,
        return_hidden: bool = False,
        use_cache: bool | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """tokens: [B, T] int64 at positions `start_pos .. start_pos+T-1`.

        attention_mask: optional [B, start_pos+T] bool, False for padding keys (e.g. left-padded
            prompts); causality is always applied.
        use_cache: store this call's keys/values in each layer's KV cache, so that a later call
            can continue from position `start_pos + T`. Default: yes, except in a training forward
            (training mode with gradients on), which never decodes after itself, and in a graph
            traced for export.
        Returns logits [B, T, vocab] (and the final hidden states [B, T, dim] before the norm, which
        the MTP modules take, when `return_hidden`).
        """
        self._check_input(tokens, start_pos, attention_mask)
        if use_cache is None:
            use_cache = not (self.training and torch.is_grad_enabled()) and not exporting()
        seq = tokens.shape[1]
        rope = self.rope.angles(start_pos, seq)  # cos, sin: [T, rope/2]
        mask = None if attention_mask is None else causal_mask(start_pos, seq, tokens.device, attention_mask)
        h = self.embed(tokens)  # [B, T, dim]
        for layer in self.layers:
            h = layer(h, start_pos, rope, mask, use_cache)
        logits = self.head(self.norm(h))  # [B, T, vocab]
        return (logits, h) if return_hidden else logits

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """`nn.Module.compile` (torch.compile's arguments), with the input checks run on the host
        before the graph instead of traced into it: they read token ids and the cache's length,
        on which a traced graph would depend. Raises torch's limit of variants per compiled
        function (`torch._dynamo.config.recompile_limit`) to `RECOMPILE_LIMIT`, for the whole
        process. `r1mini.model.compile_model` calls it."""
        import r1mini.kernels.grouped_mm  # noqa: F401 (registers the op the compiled experts call)

        reason = "reads token ids and the cache's state on the host"
        self._check_input = torch.compiler.disable(self._check_input, reason=reason)
        # each kind of call compiles its own variant of the forward, and torch runs a function
        # eagerly for good past 8: a GRPO run (prefill, decoding at a batch that shrinks and then
        # falls below the experts' gather threshold, training and no-grad forwards) needs a dozen
        config = torch._dynamo.config
        config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
        super().compile(*args, **kwargs)

    def mtp_logits(self, hidden: torch.Tensor, tokens: torch.Tensor) -> list[torch.Tensor]:
        """Multi-token prediction (§2.2) on a full sequence (`start_pos = 0`).

        hidden: [B, T, dim] from `forward(..., return_hidden=True)`; tokens: [B, T].
        Returns one tensor per depth k = 1..D: [B, T-k, vocab], whose position i predicts t_{i+k+1}.
        """
        out = []
        h = hidden
        for k, module in enumerate(self.mtp, start=1):
            seq = tokens.shape[1] - k
            h = h[:, :seq]  # [B, T-k, dim]
            rope = self.rope.angles(0, seq)
            h = module(h, self.embed(tokens[:, k:]), rope, None)  # [B, T-k, dim], causal
            out.append(self.head(module.norm(h)))
        return out

    def moe_layers(self) -> list[MoE]:
        """Every MoE layer: the main stack's, then those of the MTP modules' blocks."""
        blocks = [*self.layers, *(module.block for module in self.mtp)]
        return [block.ffn for block in blocks if isinstance(block.ffn, MoE)]

    def balance_loss(self) -> torch.Tensor:
        """Sum over MoE layers of the sequence-wise balance loss (§2.1.2, without α) of the last
        training forward."""
        terms = [
            sequence_balance_loss(*moe.routing, self.config.n_routed_experts)
            for moe in self.moe_layers()
            if moe.routing is not None
        ]
        if not terms:
            raise ValueError("balance_loss needs a forward pass in training mode first (model.train())")
        return torch.stack(terms).sum()

    @torch.no_grad()
    def update_biases(self, gamma: float) -> torch.Tensor:
        """Apply the auxiliary-loss-free bias update (§2.1.2) in every MoE layer from the loads counted
        since the last call. Returns the loads used, [MoE layers incl. MTP, E]."""
        return torch.stack([moe.gate.update_bias(gamma) for moe in self.moe_layers()])

    @contextmanager
    def recording(self) -> Iterator[list[dict[str, list]]]:
        """Capture, per layer, the attention probabilities and routing decisions of every forward
        inside the `with` block: `records[i]["attention"]` is a list of [B, H, T, S] tensors and
        `records[i]["routing"]` a list of dicts (see `Gate`). Off by default, so it costs nothing."""
        records: list[dict[str, list]] = [{"attention": [], "routing": []} for _ in self.layers]
        for layer, record in zip(self.layers, records, strict=True):
            layer.attn.record = record["attention"]
            if isinstance(layer.ffn, MoE):
                layer.ffn.gate.record = record["routing"]
        try:
            yield records
        finally:
            for layer in self.layers:
                layer.attn.record = None
                if isinstance(layer.ffn, MoE):
                    layer.ffn.gate.record = None

    def clone(self, attn_impl: AttnImpl | None = None) -> Transformer:
        """A fresh model with this one's weights and buffers (the expert biases) but no KV cache,
        e.g. the frozen reference of GRPO, so that training one leaves the other as it was.

        attn_impl: run MLA's other path with the same weights (none of them depends on it), e.g.
            "auto" for a checkpoint saved with "absorb" before "auto" existed.
        """
        config = self.config if attn_impl is None else self.config.replace(attn_impl=attn_impl)
        copy = Transformer(config).to(device=self.device, dtype=self.embed.weight.dtype)
        copy.load_state_dict(self.state_dict())
        return copy

    def keep_cache_rows(self, keep: torch.Tensor) -> None:
        """Keep only the batch rows where `keep` [B] bool is True in every layer's KV cache, so
        sequences that finished stop costing anything in batched decoding."""
        for layer in self.layers:
            layer.attn.keep_cache_rows(keep)

    def reset_cache(self) -> None:
        """Drop every layer's KV cache."""
        for layer in self.layers:
            layer.attn.reset_cache()

    def _check_input(self, tokens: torch.Tensor, start_pos: int, attention_mask: torch.Tensor | None) -> None:
        if not isinstance(tokens, torch.Tensor):
            raise ValueError(
                f"tokens must be a torch.Tensor of ids [batch, seq]; got a {type(tokens).__name__} "
                "(wrap it: torch.tensor(ids))"
            )
        checks.integer("start_pos", start_pos, minimum=0)
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be [batch, seq]; got shape {tuple(tokens.shape)}")
        if tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"tokens must be int64 or int32; got {tokens.dtype}")
        if tokens.device != self.device:
            raise ValueError(f"tokens are on {tokens.device} but the model is on {self.device}")
        batch, seq = tokens.shape
        if batch == 0 or seq == 0:
            raise ValueError(f"tokens must hold at least one sequence and one position; got {[batch, seq]}")
        # on an accelerator this check would stall it every step; a graph traced for export has no
        # values to read (its caller checks the ids)
        if tokens.device.type == "cpu" and not exporting():
            low, high = (int(t) for t in torch.aminmax(tokens))
            if low < 0 or high >= self.config.vocab_size:
                vocab = self.config.vocab_size
                raise ValueError(f"token ids must lie in [0, vocab_size={vocab}); got min {low}, max {high}")
        if start_pos < 0 or start_pos + seq > self.config.max_seq_len:
            raise ValueError(
                f"positions {start_pos}..{start_pos + seq - 1} exceed the context: start_pos + seq "
                f"must be <= max_seq_len={self.config.max_seq_len}"
            )
        if start_pos > 0:
            attn = self.layers[0].attn
            cached = attn.cache_len
            cache_batch = next(iter(attn.cache.values())).shape[0] if attn.cache else None
            if start_pos > cached or cache_batch != batch:
                raise ValueError(
                    f"start_pos={start_pos} continues a cache that holds {cached} positions for "
                    f"batch {cache_batch}; run the prompt from start_pos=0 first with batch {batch} "
                    "(a training forward caches nothing unless given use_cache=True)"
                )
        if attention_mask is not None and not isinstance(attention_mask, torch.Tensor):
            kind = type(attention_mask).__name__
            raise ValueError(f"attention_mask must be a torch.Tensor or None, not a {kind}")
        if attention_mask is not None and attention_mask.shape != (batch, start_pos + seq):
            raise ValueError(
                f"attention_mask must be [batch, start_pos + seq] = {[batch, start_pos + seq]}; "
                f"got {list(attention_mask.shape)}"
            )
