"""DeepSeekMoE: fine-grained routed experts, shared experts, and auxiliary-loss-free balancing.

V3 paper §2.1.2: each MoE layer holds `N_s` shared experts that see every token and `N_r` routed
experts of which each token uses `K_r` (eq. 12-16; the routing maths is `r1mini.kernels.router`).
§2.1.2, "Auxiliary-Loss-Free Load Balancing": a per-expert correction bias `b_i` is added to the
affinities *only to choose* experts; after each training step it moves by `γ` towards balance.
§2.1.2, "Complementary Sequence-Wise Auxiliary Loss" (eq. 17-20) is `sequence_balance_loss`.
The first `n_dense_layers` blocks use a dense SwiGLU `MLP` instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from r1mini.config import ModelConfig
from r1mini.kernels import moe_experts, route
from r1mini.kernels.moe_experts import expert_counts


class MLP(nn.Module):
    """SwiGLU feed-forward `w2(silu(w1 x) * w3 x)`, [..., dim] -> [..., dim]."""

    def __init__(self, dim: int, inter_dim: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, inter_dim, bias=False)  # gate
        self.w2 = nn.Linear(inter_dim, dim, bias=False)  # down
        self.w3 = nn.Linear(dim, inter_dim, bias=False)  # up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Gate(nn.Module):
    """The router: expert centroids `e_i`, the correction bias `b_i`, and the balancing update.

    Attributes:
        weight: [E, dim] expert centroids (kept and applied in fp32).
        bias: [E] fp32 correction bias (sigmoid gates only; None for V2's softmax gate).
        load: [E] tokens routed to each expert since the last `update_bias` (training mode only).
        record: when a list, each forward appends a dict of `ids`, `weights` [..., k] and
            `scores`, `biased_scores` [..., E] for teaching plots.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.weight = nn.Parameter(torch.empty(config.n_routed_experts, config.dim))
        bias = torch.zeros(config.n_routed_experts) if config.score_func == "sigmoid" else None
        self.register_buffer("bias", bias)
        self.register_buffer("load", torch.zeros(config.n_routed_experts), persistent=False)
        self.record: list[dict[str, torch.Tensor]] | None = None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: [..., dim] -> weights [..., k] (x's dtype), ids [..., k], scores [..., E] (fp32)."""
        c = self.config
        lead = x.shape[:-1]
        logits = F.linear(x.reshape(-1, c.dim).float(), self.weight.float())  # [N, E]
        bias = None if self.bias is None else self.bias.float()
        weights, ids, scores = route(
            logits,
            bias,
            score_func=c.score_func,
            n_groups=c.n_expert_groups,
            n_limited_groups=c.n_limited_groups,
            topk=c.n_activated_experts,
            route_scale=c.route_scale,
            norm_topk_prob=c.norm_topk_prob,
        )
        if self.training:
            with torch.no_grad():
                self.load += expert_counts(ids, c.n_routed_experts).float()
        if self.record is not None:
            biased = scores if bias is None else scores + bias
            self.record.append(
                {
                    "ids": ids.view(*lead, -1).detach(),
                    "weights": weights.view(*lead, -1).detach(),
                    "scores": scores.view(*lead, -1).detach(),
                    "biased_scores": biased.view(*lead, -1).detach(),
                }
            )
        return (
            weights.view(*lead, -1).to(x.dtype),
            ids.view(*lead, -1),
            scores.view(*lead, -1),
        )

    @torch.no_grad()
    def update_bias(self, gamma: float, load: torch.Tensor | None = None) -> torch.Tensor:
        """Auxiliary-loss-free balancing (§2.1.2): `b_i -= γ` if expert i is overloaded, `+= γ` if
        underloaded, judged against the mean load. `load` defaults to the tokens counted since the
        last call, which are then reset. Returns the load that was used, [E]."""
        if self.bias is None:
            raise ValueError("update_bias needs a correction bias; score_func='softmax' has none")
        load = self.load.clone() if load is None else load.float()
        if load.shape != self.bias.shape:
            raise ValueError(f"load has shape {tuple(load.shape)}; expected {tuple(self.bias.shape)}")
        self.bias += gamma * torch.sign(load.mean() - load)
        self.load.zero_()
        return load


class Experts(nn.Module):
    """`E` routed SwiGLU experts with stacked weights, so one grouped GEMM can serve them all.

    Attributes: w1, w3: [E, moe_inter_dim, dim] (gate, up); w2: [E, dim, moe_inter_dim] (down).
    """

    def __init__(self, n_experts: int, dim: int, inter_dim: int) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(n_experts, inter_dim, dim))
        self.w2 = nn.Parameter(torch.empty(n_experts, dim, inter_dim))
        self.w3 = nn.Parameter(torch.empty(n_experts, inter_dim, dim))

    def forward(self, x: torch.Tensor, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """x: [N, dim], ids/weights: [N, k] -> [N, dim]."""
        return moe_experts(x, ids, weights, self.w1, self.w2, self.w3)


class MoE(nn.Module):
    """A DeepSeekMoE layer (eq. 12): shared experts plus gate-weighted routed experts.

    Attributes:
        gate: the router. experts: the routed experts. shared_experts: one SwiGLU of width
            `n_shared_experts * moe_inter_dim` (None when there are none).
        routing: (scores [B, T, E], ids [B, T, k]) of the last training forward, for
            `sequence_balance_loss`.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.gate = Gate(config)
        self.experts = Experts(config.n_routed_experts, config.dim, config.moe_inter_dim)
        shared = config.n_shared_experts * config.moe_inter_dim
        self.shared_experts = MLP(config.dim, shared) if shared else None
        self.routing: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, T, dim] -> [B, T, dim]."""
        weights, ids, scores = self.gate(x)  # [B, T, k], [B, T, k], [B, T, E]
        self.routing = (scores, ids) if self.training else None
        flat = x.reshape(-1, x.shape[-1])  # [N, dim]
        y = self.experts(flat, ids.reshape(flat.shape[0], -1), weights.reshape(flat.shape[0], -1))
        if self.shared_experts is not None:
            y = y + self.shared_experts(flat)
        return y.view_as(x)


def sequence_balance_loss(scores: torch.Tensor, ids: torch.Tensor, n_experts: int) -> torch.Tensor:
    """The complementary sequence-wise balance loss of §2.1.2 without its factor α (eq. 17-20).

    `f_i = N_r / (K_r T) · Σ_t 1(i ∈ TopK_t)`, `P_i = 1/T · Σ_t s'_{i,t}` with `s'` the affinities
    normalised over all experts, and the loss is `Σ_i f_i P_i`, averaged over the sequences.
    scores: [B, T, E] affinities; ids: [B, T, k] chosen experts. Returns a scalar.
    """
    batch, seq, topk = ids.shape
    chosen = torch.zeros(batch, seq, n_experts, device=ids.device).scatter_(2, ids, 1.0)
    f = chosen.sum(dim=1) * n_experts / (topk * seq)  # [B, E]
    p = (scores / scores.sum(dim=-1, keepdim=True)).mean(dim=1)  # [B, E]
    return (f * p).sum(dim=-1).mean()
