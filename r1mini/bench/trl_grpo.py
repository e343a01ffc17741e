"""TRL's `GRPOTrainer` set up to take the same GRPO steps as r1mini's, for `bench compare`.

Same model (the r1mini checkpoint exported with `to_transformers`), same prompts in the same order,
group size, response budget, sampling temperature, learning rate, β, ε, loss aggregation ("grpo"),
group-normalised advantages and reward (`combined_reward` with the R1-Zero weights, computed from
the sampled token ids exactly as r1mini computes it). TRL runs as fast as it is configured to:
fp32 as r1mini, no gradient checkpointing, no logging. It needs r1mini's character tokenizer as a
`transformers` tokenizer: `CharTokenizer` cuts text with `split_tokens` and maps ids one to one, so
a prompt becomes the same ids on both sides.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import transformers
from datasets import Dataset
from transformers import PreTrainedTokenizer, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from r1mini.io import to_transformers
from r1mini.model import Transformer
from r1mini.reasoning.rewards import combined_reward
from r1mini.reasoning.task import Task
from r1mini.reasoning.template import decode_response, render_prompt
from r1mini.reasoning.tokenizer import BOS, EOS, PAD, TOKEN_TO_ID, VOCAB, VOCAB_SIZE, split_tokens


class CharTokenizer(PreTrainedTokenizer):
    """r1mini's tokenizer (`r1mini.reasoning.tokenizer`) behind the `transformers` interface."""

    def __init__(self, **kwargs: Any) -> None:
        special = dict(pad_token=PAD, bos_token=BOS, eos_token=EOS)
        super().__init__(**special, clean_up_tokenization_spaces=False, **kwargs)

    @property
    def vocab_size(self) -> int:
        return VOCAB_SIZE

    def get_vocab(self) -> dict[str, int]:
        return dict(TOKEN_TO_ID)

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        return split_tokens(text)

    def _convert_token_to_id(self, token: str) -> int:
        return TOKEN_TO_ID[token]

    def _convert_id_to_token(self, index: int) -> str:
        return VOCAB[index]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return "".join(tokens)


def trl_grpo_trainer(
    model: Transformer,
    tasks: Sequence[Task],
    *,
    prompts_per_step: int,
    group_size: int,
    max_new_tokens: int,
    lr: float,
    beta: float,
    clip_eps: float,
    reward_weights: dict[str, float],
    template: str,
    steps: int,
    lengths: list[float],
    callbacks: list[TrainerCallback],
) -> Any:
    """A `trl.GRPOTrainer` whose step `s` samples `group_size` responses to each of
    `tasks[s·P : (s+1)·P]` (P = `prompts_per_step`), from `model`'s weights. Each step appends
    the mean response length in tokens to `lengths`."""
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    tokenizer = CharTokenizer()
    hf_model = to_transformers(model)
    for config in (hf_model.config, hf_model.generation_config):
        config.pad_token_id, config.bos_token_id = tokenizer.pad_token_id, tokenizer.bos_token_id
        config.eos_token_id = tokenizer.eos_token_id
    directory = tempfile.mkdtemp(prefix="r1mini-trl-")  # TRL builds its reference model from a path
    hf_model.save_pretrained(directory)

    def reward(completion_ids: list[list[int]], task: list[int], **_: Any) -> list[float]:
        lengths.append(sum(map(len, completion_ids)) / len(completion_ids))
        return [
            combined_reward(decode_response(ids, template), tasks[i], reward_weights).total
            for ids, i in zip(completion_ids, task, strict=True)
        ]

    rows = tasks[: steps * prompts_per_step]
    dataset = Dataset.from_dict(
        {"prompt": [render_prompt(t.prompt, template) for t in rows], "task": list(range(len(rows)))}
    )
    args = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="r1mini-trl-out-"),
        per_device_train_batch_size=prompts_per_step * group_size,
        num_generations=group_size,
        max_completion_length=max_new_tokens,
        temperature=1.0,
        learning_rate=lr,
        lr_scheduler_type="constant",
        adam_beta2=0.95,  # r1mini's AdamW
        beta=beta,
        epsilon=clip_eps,
        loss_type="grpo",
        max_steps=steps,
        shuffle_dataset=False,
        bf16=False,
        gradient_checkpointing=False,
        disable_dropout=True,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_steps=10**6,
        disable_tqdm=True,
        seed=0,
    )
    trainer = GRPOTrainer(
        model=directory,
        reward_funcs=reward,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.remove_callback(transformers.PrinterCallback)  # no metrics printed at the end
    return trainer


class StepHooks(TrainerCallback):
    """Calls `before(step)` when a training step starts and `after(step)` when it ends."""

    def __init__(self, before: Callable[[int], None], after: Callable[[int], None]) -> None:
        self.before, self.after = before, after

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.before(state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.after(state.global_step - 1)
