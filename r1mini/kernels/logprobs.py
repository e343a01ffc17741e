"""Per-token log-probabilities `log p(id_t | context)` from the logits, the quantity SFT's
cross-entropy and GRPO's ratio ρ = π_θ/π_old and KL term are built from (DeepSeekMath §4.1 eq. 3-4;
R1 paper eq. 1-3).

`logprob_t = logits[t, id_t] − logsumexp(logits[t, :])`. The reference forms the whole [N, V]
log-softmax in fp32 (V = 129,280 at 671B: half a megabyte per token); the Triton kernel streams the
vocabulary once with an online log-sum-exp and never writes it.
"""

from __future__ import annotations

import torch

from r1mini.kernels.backend import wants_triton


def token_logprobs_reference(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """logits: [N, V], ids: [N] int -> [N] fp32 log-probabilities of the given ids."""
    return logits.float().log_softmax(dim=-1).gather(1, ids[:, None]).squeeze(1)


def token_logprobs(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """`token_logprobs_reference` through the chosen backend (differentiable w.r.t. logits)."""
    if wants_triton(logits):
        from r1mini.kernels.logprobs_triton import token_logprobs_triton

        return token_logprobs_triton(logits, ids)
    return token_logprobs_reference(logits, ids)
