"""Expert parallelism: each process holds `n_routed_experts / w` routed experts, and tokens travel
to their experts and back with two all-to-all exchanges (V3 paper §3.2 for training, §3.4 for
serving).

Every process runs the router on every token (tensor-parallel attention leaves all processes with
the same activations); each process then takes charge of an equal share of the tokens and:

1. **dispatch**: sends each of its tokens' hidden states once to every process that holds one of
   the token's experts (once per process, however many of its experts live there: V3 sends a
   token once per node for the same reason, §3.2.2), with the ids and gate weights of those
   experts (`all_to_all_single`);
2. each process runs the experts it holds on what it received, and sums each token's outputs
   weighted by their gate weights;
3. **combine**: sends those sums back to the tokens' processes, which add them up;
4. an all-gather gives every process every token's output again.

Nothing here replicates the experts or all-reduces their outputs: each expert's weights exist on
one process, and only tokens move. `traffic` counts the hidden-state bytes each step sends to other
processes, the quantity `r1mini.deployment.all_to_all_bytes` predicts; `load` counts the (token,
expert) pairs each local expert computed.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from r1mini.kernels import moe_experts
from r1mini.model.moe import Experts
from r1mini.parallel.world import World


class ExpertParallelExperts(nn.Module):
    """The routed experts `experts` (a contiguous range) of one process. Same call as `Experts`:
    (x [N, dim], ids [N, k], weights [N, k]) -> [N, dim], with x, ids, weights equal on every process.

    Attributes: w1, w3 [E/w, I, dim], w2 [E/w, dim, I]; experts (the global ids held);
    traffic ({"dispatch", "combine"} bytes sent to other processes, and "tokens" handled);
    load [E/w] pairs computed per local expert.
    """

    def __init__(self, experts: Experts, world: World, held: slice) -> None:
        super().__init__()
        self.world, self.experts, self.shard = world, held, (0, held)  # dim 0: the expert axis
        self.n_experts = experts.w1.shape[0]
        self.per_process = held.stop - held.start
        for name in ("w1", "w2", "w3"):
            weight = getattr(experts, name)[held].detach().clone()
            setattr(self, name, nn.Parameter(weight, requires_grad=False))
        self.register_buffer("load", torch.zeros(self.per_process), persistent=False)
        self.traffic = {"dispatch": 0, "combine": 0, "tokens": 0}

    def forward(self, x: torch.Tensor, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            raise RuntimeError("expert-parallel layers serve inference; train with data parallelism")
        w, rank = self.world.size, self.world.rank
        n_tokens = ids.shape[0]
        mine = torch.arange(n_tokens, device=x.device)[rank::w]  # [M] the tokens this process handles
        owner = ids[mine] // self.per_process  # [M, k] the process holding each chosen expert
        # one row per (token, destination process) pair, sorted by destination
        sends = torch.zeros(len(mine), w, dtype=torch.bool, device=x.device)
        sends[torch.arange(len(mine), device=x.device)[:, None], owner] = True  # [M, w]
        token_of, dest = sends.nonzero(as_tuple=True)  # each sorted by token, then destination
        order = torch.argsort(dest, stable=True)
        token_of, dest = token_of[order], dest[order]  # [S]: sorted by destination
        here = owner[token_of] == dest[:, None]  # [S, k] which of the token's experts are there
        local_ids = torch.where(here, ids[mine][token_of] - dest[:, None] * self.per_process, -1)  # [S, k]
        gate = torch.where(here, weights[mine][token_of], 0.0)  # [S, k]
        send_counts = torch.bincount(dest, minlength=w)  # [w]
        recv_counts = self._exchange_counts(send_counts)

        hidden = self._all_to_all(x[mine][token_of], send_counts, recv_counts)  # [R, dim]
        got_ids = self._all_to_all(local_ids, send_counts, recv_counts)  # [R, k]
        got_gate = self._all_to_all(gate, send_counts, recv_counts)  # [R, k]
        valid = got_ids >= 0  # [R, k]: -1 marks a token's experts on other processes
        out = moe_experts(
            hidden, got_ids.clamp(min=0), got_gate * valid, self.w1, self.w2, self.w3
        )  # [R, dim]
        self.load += torch.bincount(got_ids[valid], minlength=self.per_process).float()
        back = self._all_to_all(out, recv_counts, send_counts)  # [S, dim], in the order sent
        y_mine = torch.zeros(len(mine), x.shape[1], dtype=x.dtype, device=x.device)
        y_mine.index_add_(0, token_of, back)  # [M, dim]: each token's experts, summed

        remote = send_counts.sum() - send_counts[rank]
        row = x.shape[1] * x.element_size()
        self.traffic["dispatch"] += int(remote) * row
        self.traffic["combine"] += int(recv_counts.sum() - recv_counts[rank]) * row
        self.traffic["tokens"] += len(mine)
        return self._gather_tokens(y_mine, n_tokens)

    def _exchange_counts(self, send_counts: torch.Tensor) -> torch.Tensor:
        recv_counts = torch.empty_like(send_counts)
        dist.all_to_all_single(recv_counts, send_counts)
        return recv_counts

    @staticmethod
    def _all_to_all(rows: torch.Tensor, send_counts: torch.Tensor, recv_counts: torch.Tensor) -> torch.Tensor:
        """Send `rows` [S, ...] (sorted by destination, `send_counts` per process) and receive
        [R, ...] (`recv_counts` from each process)."""
        out = rows.new_empty(int(recv_counts.sum()), *rows.shape[1:])
        dist.all_to_all_single(
            out,
            rows.contiguous(),
            output_split_sizes=recv_counts.tolist(),
            input_split_sizes=send_counts.tolist(),
        )
        return out

    def _gather_tokens(self, y_mine: torch.Tensor, n_tokens: int) -> torch.Tensor:
        """Every process's tokens (process r handled tokens r, r + w, …) back in order: [N, dim]."""
        w = self.world.size
        per = -(-n_tokens // w)
        padded = y_mine.new_zeros(per, y_mine.shape[1])
        padded[: len(y_mine)] = y_mine
        parts = [torch.empty_like(padded) for _ in range(w)]
        dist.all_gather(parts, padded)
        return torch.stack(parts, dim=1).reshape(per * w, -1)[:n_tokens]  # token r + w·i from part r
