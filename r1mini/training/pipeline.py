"""The R1 pipelines in miniature: R1-Zero (R1 paper §2.2), R1's four stages (§2.3) and
distillation into a smaller dense student (§2.4).

* R1-Zero (§2.2): one stage, GRPO from the base with rule-based accuracy and format rewards only.
* R1 (§2.3), four stages:
  1. cold start (§2.3.1): SFT of the base on a small fixed set of readable reasoning traces;
  2. reasoning-oriented RL (§2.3.2): GRPO with the language-consistency reward added (R1_WEIGHTS);
  3. rejection sampling and SFT (§2.3.3, `rejection.py`): sample k responses to each of many
     training prompts from the RL model, keep only those a rule verifies (right answer,
     well-formed, reasoning in the task's language), add non-reasoning samples (R1's ~200K beside
     its ~600K reasoning samples; ours: `reasoning.formatting`, writers of mixed styles), and
     fine-tune the *base* on all of them, as R1 fine-tunes DeepSeek-V3-Base;
  4. RL for all scenarios (§2.3.4): first a reward model fitted to preference pairs of the SFT
     model's own non-reasoning replies (`preference.py`: a hidden rater stands in for people),
     then a last GRPO stage from the SFT model whose every step mixes reasoning prompts, rewarded
     by the rules, with non-reasoning prompts, rewarded by that reward model (`ScenarioPrompts`).
* Distillation (§2.4): the teacher's verified traces (rejection sampling again), then SFT of a
  smaller dense student on them, against GRPO applied directly to the same student (R1 §4.1,
  "Distillation v.s. Reinforcement Learning") at equal compute (`student_compute`).

Each stage writes into its own subdirectory of the pipeline's directory: while it trains, the
trainer's checkpoint (`<stage>/run/checkpoint`, every `checkpoint_every` steps of its config); once
finished, its result in `<stage>/final`, written atomically (a model, or the kept samples). A
pipeline started again skips every stage that has a `final` and resumes the stage in progress from
its trainer's checkpoint, so a killed pipeline loses at most `checkpoint_every` steps. With
`compiled=True` every training stage trains its model under torch.compile (`r1mini.model.compiled`).
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1mini.config import ModelConfig
from r1mini.io.atomic import atomic_write
from r1mini.model import Transformer, compile_model
from r1mini.parallel.data import barrier, is_leader
from r1mini.reasoning.dataset import RATERS
from r1mini.reasoning.reward_model import RewardModel, load_reward_model, save_reward_model
from r1mini.reasoning.rewards import R1_WEIGHTS
from r1mini.reasoning.task import Task
from r1mini.training.data import Batch, encode_batch, sample_tasks, step_seed
from r1mini.training.grpo import GRPOConfig, GRPOTrainer
from r1mini.training.loop import CHECKPOINT, Metrics, TrainingRun, locate_checkpoint
from r1mini.training.preference import PreferenceConfig, fit_reward, ranked_pairs
from r1mini.training.rejection import RejectionConfig, rejection_sample
from r1mini.training.state import load_training_state, read_state, save_training_state
from r1mini.training.trainer import TrainConfig, Trainer

FINAL, RUN, SAMPLES, SUMMARY = "final", "run", "samples.json", "summary.json"


# ---- data of the supervised stages ----------------------------------------------------------------
@dataclass(frozen=True)
class ExampleBatches:
    """SFT batches drawn from a fixed set of examples (cold-start traces, rejection samples, a
    teacher's traces): step `step` takes `batch_size` of them, chosen by `step_seed(seed, step)`,
    each shown with its reasoning (an example whose `thinking` is empty answers directly)."""

    examples: tuple[Task, ...]
    batch_size: int
    seed: int = 0
    template: str = "r1-chat"

    def __post_init__(self) -> None:
        if not self.examples:
            raise ValueError("ExampleBatches: examples is empty; SFT needs at least one example")

    def __call__(self, step: int) -> Batch:
        rng = random.Random(step_seed(self.seed, step))
        chosen = [rng.choice(self.examples) for _ in range(self.batch_size)]
        return encode_batch(chosen, loss_on="response", template=self.template, reasoning_share=1.0)


@dataclass(frozen=True)
class ScenarioPrompts:
    """The prompts of R1's last stage (§2.3.4): each step, `prompts_per_step` training prompts of
    `kinds`, the verifiable kinds' and the rest (kinds with a rater, `RATERS`) alternating, half
    each (the extra one verifiable), each drawn by `sample_tasks` from (seed, step); so every step,
    and every process's contiguous share of it under data parallelism, holds both kinds."""

    kinds: tuple[str, ...]
    prompts_per_step: int
    seed: int = 0
    difficulty: int | None = None

    def __post_init__(self) -> None:
        ruled = [k for k in self.kinds if k not in RATERS]
        if not ruled or len(ruled) == len(self.kinds):
            raise ValueError(
                f"ScenarioPrompts: kinds={list(self.kinds)} must mix kinds a rule checks with kinds "
                f"only a reward model judges ({sorted(RATERS)})"
            )

    def __call__(self, step: int) -> list[Task]:
        ruled = tuple(k for k in self.kinds if k not in RATERS)
        judged = tuple(k for k in self.kinds if k in RATERS)
        n_judged = self.prompts_per_step // 2
        reasoning = sample_tasks(
            ruled, self.prompts_per_step - n_judged, self.seed, step, "train", self.difficulty
        )
        other = (
            sample_tasks(judged, n_judged, self.seed + 1, step, "train", self.difficulty) if n_judged else []
        )
        mixed = [task for pair in zip(reasoning, other, strict=False) for task in pair]
        return mixed + reasoning[len(other) :]


# ---- compute, to compare distillation and RL fairly ---------------------------------------------
def student_compute(history: Sequence[Metrics], config: TrainConfig | GRPOConfig) -> float:
    """Compute a run spent, in token-forward equivalents (a token through the model once; a
    backward pass costs about two forwards): SFT 3 per token trained; GRPO 1 per generated token
    (KV-cached sampling) plus, per token of the rollout, 3 per update, 1 for π_old's log-probs
    when μ > 1 and 1 for the reference's when β > 0. Same model, so FLOPs ∝ this number."""
    if isinstance(config, GRPOConfig):
        per_token = 3 * config.updates_per_batch + (config.updates_per_batch > 1) + (config.beta > 0)
        return float(sum(m["generated_tokens"] + per_token * m["tokens"] for m in history))
    return float(sum(3 * m["tokens"] for m in history))


# ---- configs of the three pipelines -------------------------------------------------------------
DIFFICULTY = 4  # arithmetic digits: where answering directly is mostly wrong and reasoning mostly right


def r1_zero_config(**changes: Any) -> GRPOConfig:
    """GRPO as the shipped R1-Zero ran it (R1_ZERO_WEIGHTS); R1's RL stages change the rewards."""
    recipe = dict(steps=300, lr=3e-5, difficulty=DIFFICULTY, eval_every=5, eval_tasks=64, checkpoint_every=20)
    return GRPOConfig(**{**recipe, **changes})


def sft_config(**changes: Any) -> TrainConfig:
    """SFT from a trained model on a fixed set of examples: a gentle lr, no bias update."""
    recipe = dict(
        steps=200,
        lr=5e-4,
        warmup_steps=10,
        difficulty=DIFFICULTY,
        eval_every=50,
        eval_tasks=64,
        checkpoint_every=50,
        bias_gamma=0.0,
    )
    return TrainConfig(**{**recipe, **changes})


@dataclass
class BaseConfig:
    """The base model, SFT from scratch in two phases (R1 starts from a pretrained base; ours is
    made here): first every example shows its reasoning, so the column algorithm is learned fast;
    then a quarter do, so the base mostly answers directly and only sometimes reasons, the start
    from which R1-Zero's RL can be seen to pull reasoning up (§2.2.4)."""

    reasoning: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=1500,
            difficulty=DIFFICULTY,
            reasoning_share=1.0,
            eval_every=300,
            eval_tasks=64,
            checkpoint_every=100,
        )
    )
    mostly_direct: TrainConfig = field(default_factory=lambda: sft_config(steps=300, reasoning_share=0.25))


@dataclass
class R1Config:
    """R1's four stages (see the module docstring); `cold_start_examples` is the size of the small
    fixed set of reasoning traces the cold start learns from; `non_reasoning_ratio` the
    non-reasoning samples stage 3 adds per kept reasoning sample (R1: ~200K to ~600K), of
    `non_reasoning_kinds`; `preference` the pairs and reward model of stage 4, whose GRPO
    (`final_rl`) mixes `final_rl.kinds`, reasoning and non-reasoning, in every step."""

    cold_start_examples: int = 64
    cold_start: TrainConfig = field(default_factory=lambda: sft_config(steps=60))
    reasoning_rl: GRPOConfig = field(
        default_factory=lambda: r1_zero_config(steps=100, reward_weights=dict(R1_WEIGHTS))
    )
    rejection: RejectionConfig = field(default_factory=lambda: RejectionConfig(difficulty=DIFFICULTY))
    non_reasoning_kinds: tuple[str, ...] = ("format",)
    non_reasoning_ratio: float = 1 / 3
    sft: TrainConfig = field(default_factory=lambda: sft_config(steps=300))
    preference: PreferenceConfig = field(default_factory=PreferenceConfig)
    final_rl: GRPOConfig = field(
        default_factory=lambda: r1_zero_config(
            steps=50, reward_weights=dict(R1_WEIGHTS), kinds=("arithmetic", "format")
        )
    )

    def __post_init__(self) -> None:
        self.non_reasoning_kinds = tuple(self.non_reasoning_kinds)  # JSON gives back a list
        if self.cold_start_examples < 1:
            raise ValueError(f"R1Config: cold_start_examples={self.cold_start_examples} must be >= 1")
        if not 0 <= self.non_reasoning_ratio <= 10:
            raise ValueError(f"R1Config: non_reasoning_ratio={self.non_reasoning_ratio} must be in [0, 10]")
        unknown = set(self.non_reasoning_kinds) - set(RATERS)
        if unknown:
            raise ValueError(
                f"R1Config: non_reasoning_kinds={list(self.non_reasoning_kinds)} must be kinds with a "
                f"rater, {sorted(RATERS)}"
            )


def student_config(teacher: ModelConfig) -> ModelConfig:
    """The distilled student (R1 §2.4 distils into dense Qwen/Llama models): the teacher's config
    with every block dense (no routed experts are built), no MTP module, and a narrower width."""
    return teacher.replace(
        dim=teacher.dim * 2 // 3,
        inter_dim=teacher.inter_dim * 2 // 3,
        n_dense_layers=teacher.n_layers,
        n_mtp_layers=0,
    )


@dataclass
class DistillConfig:
    """Distillation (see the module docstring): `student_base` makes the student's base as the
    base was made (mostly direct answers); `traces` samples the teacher; `distill` is the SFT on
    them; `student_rl` is GRPO from the student base for as much compute as `distill` spent."""

    student_base: BaseConfig = field(default_factory=BaseConfig)
    traces: RejectionConfig = field(default_factory=lambda: RejectionConfig(difficulty=DIFFICULTY))
    distill: TrainConfig = field(default_factory=lambda: sft_config(steps=300))
    student_rl: GRPOConfig = field(default_factory=lambda: r1_zero_config(steps=10_000))


# ---- the stages ---------------------------------------------------------------------------------
def cold_start_traces(config: R1Config) -> list[Task]:
    """The small fixed set of reasoning traces R1's cold start learns from (§2.3.1)."""
    c = config.cold_start
    return sample_tasks(c.kinds, config.cold_start_examples, c.seed, 0, "train", c.difficulty)


class Pipeline:
    """Stages run in order into `out_dir/<stage>` (see the module docstring). Each stage method
    returns its result, computing it only if the stage has not finished before."""

    def __init__(
        self,
        out_dir: str | Path,
        *,
        progress: bool = True,
        log: Callable[[str], None] = print,
        compiled: bool = False,
    ) -> None:
        self.out_dir, self.progress, self.log, self.compiled = Path(out_dir), progress, log, compiled

    def history(self, stage: str) -> list[Metrics]:
        """The metrics of every step of a finished training stage."""
        return read_state(self.out_dir / stage / FINAL)["history"]

    def _train(
        self,
        stage: str,
        init: Transformer,
        config: TrainConfig | GRPOConfig,
        *,
        data: dict[str, Any],
        until: Callable[[TrainingRun], bool] | None = None,
    ) -> Transformer:
        """Train a copy of `init` (resuming the stage's checkpoint if there is one) to the end of
        `config.steps`, or, with `until`, one step at a time until `until(run)` holds."""
        final = self.out_dir / stage / FINAL
        if locate_checkpoint(final) is not None:
            self.log(f"{stage}: finished before, loading {final}")
            return load_training_state(final)[0]
        trainer = Trainer if isinstance(config, TrainConfig) else GRPOTrainer
        checkpoint = self.out_dir / stage / RUN / CHECKPOINT
        if found := locate_checkpoint(checkpoint):
            if found[1]:
                self.log(f"{stage}: {found[1]}")
            run = trainer.resume(checkpoint, progress=self.progress, **data)
            self.log(f"{stage}: resuming at step {run.step}")
        else:
            run = trainer(init.clone(), config, out_dir=checkpoint.parent, progress=self.progress, **data)
            self.log(f"{stage}: {trainer.__name__}, {config.steps} steps")
        if self.compiled:
            compile_model(run.model)
        if until is None:
            run.run()
        else:
            run.progress = False  # one step at a time: a bar per step would only clutter
            while run.step < config.steps and not until(run):
                run.run(1)
        if is_leader():  # data parallel: every process holds the same model; one writes it
            save_training_state(final, run.model, None, run.step, {"stage": stage, "history": run.history})
        barrier()
        last = {k: v for k, v in run.history[-1].items() if k.startswith("eval_")}
        self.log(f"{stage}: done after {run.step} steps {last}")
        return run.model

    def sft(
        self, stage: str, init: Transformer, config: TrainConfig, examples: Sequence[Task] | None = None
    ) -> Transformer:
        """SFT of `init`: on `examples` (each with its reasoning) or, if None, on fresh tasks."""
        data = (
            {}
            if examples is None
            else {"batches": ExampleBatches(tuple(examples), config.batch_size, config.seed, config.template)}
        )
        return self._train(stage, init, config, data=data)

    def grpo(
        self, stage: str, init: Transformer, config: GRPOConfig, budget: float | None = None, **data: Any
    ) -> Transformer:
        """GRPO from `init`; with `budget`, stops once `student_compute` reaches it; `data` goes to
        the trainer (`prompts=`, `preference=`)."""
        until = None if budget is None else (lambda run: student_compute(run.history, config) >= budget)
        return self._train(stage, init, config, data=data, until=until)

    def reward_model(self, stage: str, model: Transformer, config: PreferenceConfig) -> RewardModel:
        """Stage 4's reward model: `model`'s replies ranked by the hidden rater into pairs
        (`ranked_pairs`), a reward model fitted to them (`fit_reward`), saved with a summary."""
        final = self.out_dir / stage / FINAL
        if not final.is_dir():
            pairs, samples = ranked_pairs(model, config)
            if not pairs:
                raise ValueError(
                    f"{stage}: the rater ranked none of the {len(samples)} replies above another (all "
                    "alike); sample more replies per prompt or at a higher temperature"
                )
            judge = fit_reward(pairs, config)
            summary = {"stage": stage, "samples": len(samples), "pairs": len(pairs)}
            if is_leader():
                tmp = final.with_name(f".{FINAL}.tmp")
                save_reward_model(judge, tmp)
                atomic_write(tmp / SUMMARY, lambda path: Path(path).write_text(json.dumps(summary, indent=1)))
                tmp.rename(final)
            barrier()
            self.log(f"{stage}: a reward model fitted to {len(pairs)} pairs of {len(samples)} replies")
        return load_reward_model(final)

    def rejection(self, stage: str, model: Transformer, config: RejectionConfig) -> list[Task]:
        """Rejection sampling from `model`; the kept examples are saved as JSON for the reader and
        for a restarted pipeline (rebuilt against `config.tasks()`)."""
        final = self.out_dir / stage / FINAL
        if not final.is_dir():
            kept, sampled = rejection_sample(model, config)
            if not kept:
                raise ValueError(
                    f"{stage}: none of the {sampled} responses was verified; the model solves none of "
                    "these tasks (train it longer, or make config.difficulty easier)"
                )
            records = [{"prompt": t.prompt, "thinking": t.thinking, "answer": t.answer} for t in kept]
            reasoning = sum(bool(t.thinking) for t in kept) / max(len(kept), 1)
            summary = {"stage": stage, "sampled": sampled, "kept": len(kept), "reasoning_share": reasoning}
            if is_leader():  # every process sampled the same responses; one writes them
                tmp = final.with_name(f".{FINAL}.tmp")
                tmp.mkdir(parents=True, exist_ok=True)
                atomic_write(
                    tmp / SAMPLES,
                    lambda path: Path(path).write_text(json.dumps({**summary, "samples": records}, indent=1)),
                )
                tmp.rename(final)
            barrier()
            self.log(f"{stage}: kept {len(kept)} of {sampled} responses")
        return load_samples(final / SAMPLES, config.tasks())

    # ---- the pipelines ---------------------------------------------------------------------------
    def base(self, model: Transformer, config: BaseConfig) -> Transformer:
        """The base: SFT of `model` (fresh) with reasoning, then mostly without."""
        learned = self.sft("1-sft-reasoning", model, config.reasoning)
        return self.sft("2-sft-mostly-direct", learned, config.mostly_direct)

    def r1_zero(self, base: Transformer, config: GRPOConfig) -> Transformer:
        """R1-Zero (§2.2): pure RL from the base."""
        return self.grpo("r1-zero", base, config)

    def r1(self, base: Transformer, config: R1Config) -> Transformer:
        """R1 (§2.3): cold start, reasoning RL, rejection sampling + SFT of the base, final RL."""
        cold = self.sft("1-cold-start", base, config.cold_start, cold_start_traces(config))
        reasoner = self.grpo("2-reasoning-rl", cold, config.reasoning_rl)
        kept = self.rejection("3-rejection-sampling", reasoner, config.rejection)
        writing = non_reasoning_samples(config, len(kept))
        tuned = self.sft("3-sft", base, config.sft, [*kept, *writing])
        judge = self.reward_model("4-reward-model", tuned, config.preference)
        c = config.final_rl
        prompts = ScenarioPrompts(c.kinds, c.prompts_per_step, c.seed, c.difficulty)
        return self.grpo("4-final-rl", tuned, c, prompts=prompts, preference=judge)

    def distill(self, teacher: Transformer, config: DistillConfig) -> dict[str, Transformer]:
        """Distillation (§2.4) vs RL on the same student at equal compute; returns both students
        (and the student base they start from)."""
        student = Transformer(student_config(teacher.config))
        sub = Pipeline(
            self.out_dir / "1-student-base", progress=self.progress, log=self.log, compiled=self.compiled
        )
        base = sub.base(student, config.student_base)
        traces = self.rejection("2-teacher-traces", teacher, config.traces)
        distilled = self.sft("3-distill", base, config.distill, traces)
        budget = student_compute(self.history("3-distill"), config.distill)
        rl = self.grpo("4-student-rl", base, config.student_rl, budget=budget)
        return {"student_base": base, "distilled": distilled, "rl": rl}


def non_reasoning_samples(config: R1Config, kept: int) -> list[Task]:
    """Stage 3's non-reasoning samples: `config.non_reasoning_ratio` per kept reasoning sample, of
    `config.non_reasoning_kinds`, each with its writer's reply (seeded by the SFT's seed)."""
    n = round(kept * config.non_reasoning_ratio)
    kinds, seed = config.non_reasoning_kinds, config.sft.seed
    return sample_tasks(kinds, n, seed + 2, 0, "train") if n and kinds else []


def load_samples(path: str | Path, tasks: Sequence[Task]) -> list[Task]:
    """The examples a rejection stage saved at `path`, rebuilt from the `tasks` they answer."""
    by_prompt = {task.prompt: task for task in tasks}
    records = json.loads(Path(path).read_text())["samples"]
    missing = [r["prompt"] for r in records if r["prompt"] not in by_prompt]
    if missing:
        raise ValueError(f"{path}: {len(missing)} samples answer prompts not in tasks, e.g. {missing[0]!r}")
    return [
        dataclasses.replace(by_prompt[r["prompt"]], thinking=r["thinking"], answer=r["answer"])
        for r in records
    ]
