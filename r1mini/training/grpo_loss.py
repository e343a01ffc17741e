"""The GRPO objective as a loss to minimise (DeepSeekMath §4.1 eq. 3-4; R1 paper §2.2.1 eq. 1-2),
with the aggregation variants of GRPO, BNPO, Dr. GRPO (arXiv 2503.20783) and DAPO (arXiv 2503.14476).

GRPO maximises, over groups of G responses o_i sampled from the old policy π_old,

    J = E[ 1/G Σ_i 1/|o_i| Σ_t ( min(ρ_it·Â_i, clip(ρ_it, 1−ε_low, 1+ε_high)·Â_i) − β·D_KL,it ) ]

    ρ_it    = π_θ(o_it | q, o_i<t) / π_old(o_it | q, o_i<t) = exp(logp − old_logp)
    D_KL,it = π_ref/π_θ − log(π_ref/π_θ) − 1 = exp(ref_logp − logp) − (ref_logp − logp) − 1   (eq. 4)

The R1 paper's eq. 1 writes the ratio per response; DeepSeekMath's eq. 3, which TRL and every
implementation we know follow, writes it per token, and so do we. D_KL is Schulman's "k3" estimator
of KL(π_θ ‖ π_ref), never negative, and unbiased for tokens sampled from π_θ; GRPO's are sampled from
π_old, so it is unbiased at a batch's first update (π_θ = π_old) and approximate after. Â_i comes from
`r1mini.training.advantages.group_advantages` and is shared by all tokens of o_i. The PPO clip keeps
a step from moving ρ far from 1; DAPO's "clip-higher" (§3.1) raises only ε_high (0.28 vs ε_low = 0.2)
so unlikely tokens with positive advantage can still grow, against entropy collapse.

The loss is the negated per-token term `ℓ_it = −min(ρ·Â, clip(ρ)·Â) + β·D_KL`, summed over response
tokens (mask = 1) and normalised as TRL's `GRPOTrainer` does for `loss_type`:

    grpo     1/B Σ_i (Σ_t ℓ_it / |o_i|)   mean over sequences of per-sequence token means (eq. 3)
    bnpo     Σ_it ℓ_it / N                N = response tokens in *this* batch
    dr_grpo  Σ_it ℓ_it / (B · L)          L = max_completion_length, a constant: no length bias
    dapo     Σ_it ℓ_it / N_global         N_global = response tokens in the whole *global* batch

grpo weighs every token of a short response more than one of a long response, which Dr. GRPO (§3.1)
shows rewards long wrong answers; the other three weigh all tokens equally. bnpo and dapo differ only
in N: in TRL, with k gradient-accumulation micro-batches (and several processes), bnpo divides each
micro-batch by its own token count, so a step averages k token means, while dapo divides every
micro-batch by the token count of the whole accumulated batch, so a step is one token mean over
everything. This function sees a single batch and no accumulation, where the two are the same
number: `dapo` is kept as a name so a trainer can state its intent, and computes exactly bnpo.

A sequence with no response tokens (an all-zero mask row) contributes 0 to the loss and to the
metrics; under grpo it still counts in the 1/B. An all-zero mask gives a loss of 0, never NaN.
"""

from __future__ import annotations

import torch

from r1mini.kernels import token_logprobs

LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")


def sequence_logprobs(model_logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log π(tokens[b, t+1] | tokens[b, :t+1]) for t = 0..T−2: the model's log-probability of each next token.

    model_logits: [B, T, V] from one forward pass over tokens: [B, T] int64/int32. Position t's logits
    predict token t+1, so the result is [B, T−1] fp32, differentiable w.r.t. model_logits, computed
    by `r1mini.kernels.token_logprobs` (fused log-softmax + gather on the chosen backend).
    """
    op = "sequence_logprobs"
    if model_logits.dim() != 3 or not model_logits.is_floating_point():
        raise ValueError(
            f"{op}: model_logits.shape={tuple(model_logits.shape)}, dtype={model_logits.dtype} "
            "must be a floating-point [B, T, V]"
        )
    b, t, v = model_logits.shape
    if tokens.dtype not in (torch.int64, torch.int32) or tuple(tokens.shape) != (b, t):
        raise ValueError(
            f"{op}: tokens.shape={tuple(tokens.shape)}, dtype={tokens.dtype} must be int64/int32 [{b}, {t}] "
            "to match model_logits [B, T, V]"
        )
    if t < 2:
        raise ValueError(f"{op}: T={t} must be >= 2: a next-token log-prob needs a token to follow")
    lowest, highest = int(tokens.min()), int(tokens.max())
    if lowest < 0 or highest >= v:
        raise ValueError(f"{op}: tokens must lie in [0, V={v}); got [{lowest}, {highest}]")
    logits = model_logits[:, :-1].reshape(b * (t - 1), v)  # [B*(T-1), V]: position t predicts t+1
    targets = tokens[:, 1:].reshape(b * (t - 1))  # [B*(T-1)]
    return token_logprobs(logits, targets).view(b, t - 1)  # [B, T-1] fp32


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    beta: float = 0.04,
    loss_type: str = "grpo",
    max_completion_length: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The GRPO loss −J (module docstring) and its metrics, for one batch of B sampled responses.

    logp: [B, T] log π_θ of each sampled token, with gradient (e.g. from `sequence_logprobs`).
    old_logp: [B, T] log π_old (the policy that sampled), ref_logp: [B, T] log π_ref, or None when
    beta = 0; advantages: [B] Â_i. These three are constants of the step and are detached here, so
    passing `logp` itself as old_logp (one update per batch) gives ρ = 1 with the right gradient.
    mask: [B, T] bool or 0/1, 1 on the response tokens that count (not prompt, not padding).
    clip_eps: ε_low; clip_eps_high: ε_high (DAPO clip-higher), default ε_low. beta: the KL weight β.
    loss_type: "grpo" | "bnpo" | "dr_grpo" | "dapo", normalised as in the module docstring.
    max_completion_length: Dr. GRPO's constant L, default T; used only by dr_grpo, but checked for
    every loss_type to be >= the longest response.

    Returns (loss, metrics): loss a scalar with gradient w.r.t. logp; metrics floats, each a mean
    over response tokens: "ratio_mean" (ρ), "clip_frac_low" (share with ρ < 1−ε_low and Â < 0,
    where the clip zeroes the gradient), "clip_frac_high" (ρ > 1+ε_high and Â > 0), and "kl"
    (D_KL, only when ref_logp is given).
    """
    eps_low = clip_eps
    eps_high = clip_eps if clip_eps_high is None else clip_eps_high
    _check_inputs(logp, old_logp, ref_logp, advantages, mask, eps_low, eps_high, beta, loss_type)
    b, t = logp.shape
    longest = int(mask.sum(dim=-1).max()) if b else 0
    length = t if max_completion_length is None else max_completion_length
    if length < max(longest, 1):
        raise ValueError(
            f"grpo_loss: max_completion_length={max_completion_length} must be >= 1 and >= the longest "
            f"response in mask ({longest} tokens)"
        )

    mask = mask.to(logp.dtype)  # [B, T] 0/1
    adv = advantages.detach()[:, None]  # [B, 1], broadcast over tokens
    ratio = torch.exp(logp - old_logp.detach())  # [B, T] ρ
    clipped = ratio.clamp(1 - eps_low, 1 + eps_high)  # [B, T]
    per_token = -torch.min(ratio * adv, clipped * adv)  # [B, T] ℓ without KL
    kl = None
    if ref_logp is not None:
        log_ref_ratio = ref_logp.detach() - logp  # [B, T] log(π_ref/π_θ)
        kl = torch.exp(log_ref_ratio) - log_ref_ratio - 1  # [B, T] k3 estimator, >= 0
        per_token = per_token + beta * kl

    masked = per_token * mask  # [B, T]
    if loss_type == "grpo":
        loss = (masked.sum(dim=-1) / mask.sum(dim=-1).clamp(min=1)).mean()
    elif loss_type == "dr_grpo":
        loss = masked.sum() / (b * length)
    else:  # bnpo and dapo: one token mean over the batch (identical without gradient accumulation)
        loss = masked.sum() / mask.sum().clamp(min=1)

    with torch.no_grad():
        n_tokens = mask.sum().clamp(min=1)
        metrics = {
            "ratio_mean": ((ratio * mask).sum() / n_tokens).item(),
            "clip_frac_low": ((((ratio < 1 - eps_low) & (adv < 0)) * mask).sum() / n_tokens).item(),
            "clip_frac_high": ((((ratio > 1 + eps_high) & (adv > 0)) * mask).sum() / n_tokens).item(),
        }
        if kl is not None:
            metrics["kl"] = ((kl * mask).sum() / n_tokens).item()
    return loss, metrics


def _check_inputs(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    eps_low: float,
    eps_high: float,
    beta: float,
    loss_type: str,
) -> None:
    """Raise a ValueError naming the argument, its value and the rule, for any malformed grpo_loss input."""
    op = "grpo_loss"
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"{op}: loss_type={loss_type!r} is not one of {LOSS_TYPES}")
    if not 0 <= eps_low <= 1:
        raise ValueError(f"{op}: clip_eps={eps_low} must be in [0, 1] so that 1 − clip_eps >= 0")
    if eps_high < 0:
        raise ValueError(f"{op}: clip_eps_high={eps_high} must be >= 0")
    if beta < 0:
        raise ValueError(f"{op}: beta={beta} must be >= 0")
    if ref_logp is None and beta != 0:
        raise ValueError(f"{op}: beta={beta} needs ref_logp (log π_ref); pass it, or set beta=0")
    if logp.dim() != 2:
        raise ValueError(f"{op}: logp.shape={tuple(logp.shape)} must be [B, T]")
    shape = tuple(logp.shape)
    tensors = {"logp": logp, "old_logp": old_logp, "ref_logp": ref_logp, "advantages": advantages}
    for name, tensor in tensors.items():
        if tensor is not None and not tensor.is_floating_point():
            raise ValueError(f"{op}: {name}.dtype={tensor.dtype} must be floating point")
    for name, tensor, expected in (
        ("old_logp", old_logp, shape),
        ("ref_logp", ref_logp, shape),
        ("advantages", advantages, shape[:1]),
        ("mask", mask, shape),
    ):
        if tensor is not None and tuple(tensor.shape) != expected:
            raise ValueError(
                f"{op}: {name}.shape={tuple(tensor.shape)} must be {list(expected)} to match logp [B, T]"
            )
    if not ((mask == 0) | (mask == 1)).all():
        raise ValueError(f"{op}: mask (dtype {mask.dtype}) must hold only 0/1 (or be bool)")
