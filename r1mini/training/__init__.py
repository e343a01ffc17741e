"""Training: next-token pretraining and SFT with multi-token prediction (DeepSeek-V3 §2.2, §2.1.2)
and GRPO (DeepSeekMath §4.1; R1 paper §2.2.1), on batches of verifiable tasks.

The GRPO maths are pure functions (group-relative advantages, per-token log-probs, the clipped,
KL-regularised loss); the trainers (`Trainer`, `GRPOTrainer`) share one loop with checkpoints and
exact resume (`loop.TrainingRun`). `pipeline.py` chains them into R1-Zero, R1's four stages and
distillation (R1 paper §2.2-2.4), stage by stage, resumable, with rejection sampling
(`rejection.py`) between them, and preference data and a learned reward model for R1's last stage
(`preference.py`). `dpo.py` is the usual recipe's preference tuning, DPO, for comparison.
"""

from r1mini.training.advantages import group_advantages
from r1mini.training.data import Batch, TaskBatches, encode_batch, sample_tasks, step_seed
from r1mini.training.dpo import DPOConfig, DPOTrainer, dpo_loss
from r1mini.training.grpo import GRPOConfig, GRPOTrainer, Rollout
from r1mini.training.grpo_loss import LOSS_TYPES, grpo_loss, sequence_logprobs
from r1mini.training.loop import TIMING_METRICS, RunConfig, TrainingRun
from r1mini.training.pipeline import (
    BaseConfig,
    DistillConfig,
    Pipeline,
    R1Config,
    ScenarioPrompts,
    student_compute,
    student_config,
)
from r1mini.training.preference import PreferenceConfig, fit_reward, ranked_pairs
from r1mini.training.rejection import RejectionConfig, judge_samples, keep_verified, rejection_sample
from r1mini.training.schedule import learning_rate
from r1mini.training.state import load_frozen, load_training_state, save_training_state
from r1mini.training.trainer import TrainConfig, Trainer, masked_cross_entropy

__all__ = [
    "LOSS_TYPES",
    "TIMING_METRICS",
    "BaseConfig",
    "Batch",
    "DPOConfig",
    "DPOTrainer",
    "DistillConfig",
    "GRPOConfig",
    "GRPOTrainer",
    "Pipeline",
    "PreferenceConfig",
    "R1Config",
    "RejectionConfig",
    "Rollout",
    "RunConfig",
    "ScenarioPrompts",
    "TaskBatches",
    "TrainConfig",
    "Trainer",
    "TrainingRun",
    "dpo_loss",
    "encode_batch",
    "fit_reward",
    "group_advantages",
    "grpo_loss",
    "judge_samples",
    "keep_verified",
    "learning_rate",
    "load_frozen",
    "load_training_state",
    "masked_cross_entropy",
    "ranked_pairs",
    "rejection_sample",
    "sample_tasks",
    "save_training_state",
    "sequence_logprobs",
    "step_seed",
    "student_compute",
    "student_config",
]
