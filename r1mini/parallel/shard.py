"""`shard_model`: the one r1mini model, split over the processes of a world by replacing layers.

Nothing in `r1mini.model` changes; its layers are swapped in place for their parallel versions
(`tensor.py`, `experts.py`), as DeepSeek's inference code builds its model from ColumnParallel /
RowParallel linears:

* attention: each process keeps `n_heads / w` heads. The query up-projection (`wq` or `wq_b`) and
  `wkv_b` (each head's key and value from the latent) are column-parallel, `wo` row-parallel. The
  down-projections `wq_a` and `wkv_a`, and the norms, stay whole on every process;
* dense MLPs and shared experts: `w1`, `w3` column-parallel over the hidden width, `w2` row-parallel;
* routed experts: `n_routed_experts / w` per process, reached by all-to-all (`experts.py`); the
  router stays whole, so every process routes every token the same way;
* embedding and head: split over the vocabulary.

**The KV cache does not split with the heads.** MLA's cache is the latent `c^{KV}` and the shared
roped key `k^R`, computed by `wkv_a` before any head exists (V3 §2.1.1, eq. 1 and 3). With the
absorbed path every process caches the whole latent, `(kv_lora_rank + qk_rope_head_dim)` numbers
per token per layer, however many processes there are; only the naive path, which expands keys
and values per head, caches `1/w` of them. Tensor parallelism divides MLA's weights, not its
cache: why DeepSeek serves attention data-parallel across the decoding GPUs (§3.4.2) and splits
only the experts.

A world of size 1 leaves the model as it is.
"""

from __future__ import annotations

from torch import nn

from r1mini.model import Transformer
from r1mini.model.moe import MLP, MoE
from r1mini.parallel.experts import ExpertParallelExperts
from r1mini.parallel.tensor import (
    ColumnParallelLinear,
    RowParallelLinear,
    VocabParallelEmbedding,
    VocabParallelHead,
    split,
)
from r1mini.parallel.world import World


def _swiglu(mlp: MLP, world: World) -> None:
    hidden = split(mlp.w1.out_features, world.size, world.rank, "a SwiGLU's hidden width")
    mlp.w1 = ColumnParallelLinear(mlp.w1, world, hidden)
    mlp.w3 = ColumnParallelLinear(mlp.w3, world, hidden)
    mlp.w2 = RowParallelLinear(mlp.w2, world, hidden)


def shard_model(model: Transformer, world: World) -> Transformer:
    """Replace, in place, `model`'s layers by this process's shards (see the module docstring) and
    return it. Every process must call it with the same full model."""
    if world.size == 1:
        return model
    c = model.config
    heads = split(c.n_heads, world.size, world.rank, "n_heads")
    split(c.n_routed_experts, world.size, world.rank, "n_routed_experts")  # checks divisibility
    vocab = split(c.vocab_size, world.size, world.rank, "vocab_size")
    blocks = [*model.layers, *(module.block for module in model.mtp)]
    for block in blocks:
        attn = block.attn
        q_rows = slice(heads.start * c.qk_head_dim, heads.stop * c.qk_head_dim)
        kv_rows = slice(
            heads.start * (c.qk_nope_head_dim + c.v_head_dim),
            heads.stop * (c.qk_nope_head_dim + c.v_head_dim),
        )
        v_cols = slice(heads.start * c.v_head_dim, heads.stop * c.v_head_dim)
        if hasattr(attn, "wq"):
            attn.wq = ColumnParallelLinear(attn.wq, world, q_rows)
        else:
            attn.wq_b = ColumnParallelLinear(attn.wq_b, world, q_rows)
        attn.wkv_b = ColumnParallelLinear(attn.wkv_b, world, kv_rows)
        attn.wo = RowParallelLinear(attn.wo, world, v_cols)
        attn.n_heads = heads.stop - heads.start
        if isinstance(block.ffn, MLP):
            _swiglu(block.ffn, world)
        elif isinstance(block.ffn, MoE):
            held = split(c.n_routed_experts, world.size, world.rank, "n_routed_experts")
            block.ffn.experts = ExpertParallelExperts(block.ffn.experts, world, held)
            if block.ffn.shared_experts is not None:
                _swiglu(block.ffn.shared_experts, world)
    model.embed = VocabParallelEmbedding(model.embed, world, vocab)
    model.head = VocabParallelHead(model.head, world, vocab)
    model.requires_grad_(False)
    return model


def expert_parallel_layers(model: nn.Module) -> list[ExpertParallelExperts]:
    """Every expert-parallel layer of a sharded model, in order (for traffic and load)."""
    return [m for m in model.modules() if isinstance(m, ExpertParallelExperts)]
