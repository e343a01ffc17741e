"""Group-relative advantages: GRPO's replacement for a learned critic (DeepSeekMath §4.1.2,
"Outcome Supervision RL with GRPO"; R1 paper §2.2.1 eq. 3).

For each question GRPO samples a group of G responses o_1..o_G, scores them with the rule-based
rewards r_1..r_G, and uses the group itself as the baseline. Every token of response o_i gets

    Â_i = (r_i − mean(r_1..r_G)) / (std(r_1..r_G) + eps)

so a response is pushed up exactly when it beats its siblings. Two choices follow TRL's
`GRPOTrainer`: the std is Bessel-corrected (divides by G − 1) and eps = 1e-4 is added to it rather
than to the variance. Dr. GRPO (arXiv 2503.20783 §3.1) points out that dividing by the std gives the
questions whose rewards vary least (nearly always solved, or nearly always failed) the largest
advantages, a bias by question difficulty, and drops it: `scale="none"` gives Â_i = r_i − mean(r).

A group whose rewards are all equal (every response right, or every one wrong) teaches nothing:
its advantages are exactly 0, set explicitly rather than left to the formula: in floating point the
mean of sixteen fp32 rewards of 0.1 is 0.10000001, so r_i − mean(r) is −7.5e-9 rather than 0, and with
eps = 0 dividing by the equally spurious std (7.7e-9) would turn that into an advantage of about −1.
"""

from __future__ import annotations

import torch

SCALES = ("std", "none")


def group_advantages(
    rewards: torch.Tensor, group_size: int, scale: str = "std", eps: float = 1e-4
) -> torch.Tensor:
    """Â_i per response from the rewards of its group (DeepSeekMath §4.1.2; R1 paper eq. 3).

    rewards: [B*G] (the G responses of each question consecutive, as generation produces them) or
    [B, G], floating point and finite. Returns the advantages in the rewards' shape and dtype.
    scale: "std" divides by (Bessel-corrected std + eps), as GRPO and TRL do; "none" is Dr. GRPO's
    unscaled r_i − mean(r). Groups with all rewards equal get exactly 0, never NaN.
    """
    op = "group_advantages"
    shape = tuple(rewards.shape)
    if group_size < 2:
        raise ValueError(f"{op}: group_size={group_size} must be >= 2: a group needs responses to compare")
    if scale not in SCALES:
        raise ValueError(f"{op}: scale={scale!r} is not one of {SCALES}")
    if eps < 0:
        raise ValueError(f"{op}: eps={eps} must be >= 0")
    if not rewards.is_floating_point():
        raise ValueError(f"{op}: rewards.dtype={rewards.dtype} must be floating point (use rewards.float())")
    if rewards.dim() not in (1, 2):
        raise ValueError(f"{op}: rewards.shape={shape} must be [B*G] or [B, G]")
    if rewards.dim() == 2 and shape[1] != group_size:
        raise ValueError(f"{op}: rewards.shape={shape} is [B, G] with G != group_size={group_size}")
    if rewards.dim() == 1 and shape[0] % group_size:
        raise ValueError(f"{op}: rewards.shape={shape} is not a whole number of groups of {group_size}")
    if not torch.isfinite(rewards).all():
        raise ValueError(f"{op}: rewards must be finite; got NaN or inf")

    grouped = rewards.reshape(-1, group_size)  # [B, G]
    advantages = grouped - grouped.mean(dim=1, keepdim=True)  # [B, G]
    if scale == "std":
        advantages = advantages / (grouped.std(dim=1, keepdim=True) + eps)  # Bessel-corrected std
    constant = (grouped == grouped[:, :1]).all(dim=1, keepdim=True)  # [B, 1] zero-variance groups
    advantages = advantages.masked_fill(constant, 0.0)  # [B, G]
    return advantages.reshape(rewards.shape)
