"""Training: the GRPO maths of DeepSeekMath §4.1 and the R1 paper §2.2.1, as pure functions a trainer
calls: group-relative advantages, per-token log-probs, and the clipped, KL-regularised loss.
"""

from r1mini.training.advantages import group_advantages
from r1mini.training.grpo_loss import LOSS_TYPES, grpo_loss, sequence_logprobs

__all__ = ["LOSS_TYPES", "group_advantages", "grpo_loss", "sequence_logprobs"]
