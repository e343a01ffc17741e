"""Conversation templates: how a task is put to the model, and how its response is read back.

Three templates, chosen by name:

* ``"r1-zero"``: the R1-Zero training template, word for word from the R1 paper (§2.2.3, Table 1).
  It wraps the question in some 370 tokens, most of the miniature model's 512-token context
  (a whole example no longer fits), so it is here to read and for larger models.
* ``"r1-zero-short"``: our miniature adaptation of it. It keeps what matters, the instruction to
  reason in ``<think> </think>`` and answer in ``<answer> </answer>`` and the
  ``User: ... Assistant:`` frame, in about 50 tokens. Like R1-Zero, the model must open the
  ``<think>`` block itself, which is what the format reward (§2.2.2) teaches.
* ``"r1-chat"``: the compact chat form of the released DeepSeek-R1, whose template ends the
  prompt with ``<|Assistant|><think>\\n`` so that every answer starts by thinking.

Every response is written the same way (``render_completion``)::

    <think>
    reasoning
    </think>
    <answer>answer</answer><eos>

A template's ``prefill`` is the start of that response which the prompt already wrote
(``"<think>\\n"`` for ``"r1-chat"``); ``decode_response`` puts it back, so rewards always see the
whole response.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from r1mini.reasoning.task import Task
from r1mini.reasoning.tokenizer import (
    ANSWER,
    ASSISTANT,
    BOS,
    END_ANSWER,
    END_THINK,
    EOS,
    EOS_ID,
    PAD_ID,
    THINK,
    USER,
    decode,
    encode,
)


@dataclass(frozen=True)
class Template:
    """A named prompt format: one ``{prompt}`` field, ending in the response's ``prefill``."""

    name: str
    prompt_format: str
    prefill: str


R1_ZERO = Template(
    name="r1-zero",
    prompt_format=(
        "A conversation between User and Assistant. The user asks a question, and the Assistant "
        "solves it. The assistant first thinks about the reasoning process in the mind and then "
        "provides the user with the answer. The reasoning process and answer are enclosed within "
        f"{THINK} {END_THINK} and {ANSWER} {END_ANSWER} tags, respectively, i.e., "
        f"{THINK} reasoning process here {END_THINK} {ANSWER} answer here {END_ANSWER}. "
        "User: {prompt}. Assistant:"
    ),
    prefill="",
)
R1_ZERO_SHORT = Template(
    name="r1-zero-short",
    prompt_format=(
        f"Think in {THINK} {END_THINK}, then answer in {ANSWER} {END_ANSWER}. User: {{prompt}}. Assistant:"
    ),
    prefill="",
)
R1_CHAT = Template(
    name="r1-chat",
    prompt_format=f"{USER}{{prompt}}{ASSISTANT}{THINK}\n",
    prefill=f"{THINK}\n",
)
TEMPLATES = {template.name: template for template in (R1_ZERO, R1_ZERO_SHORT, R1_CHAT)}


def get_template(name: str) -> Template:
    """The template called ``name``; raises ValueError listing the known names."""
    if name not in TEMPLATES:
        raise ValueError(f"template={name!r} is not a template; choose from {list(TEMPLATES)}")
    return TEMPLATES[name]


def render_prompt(task_prompt: str, template: str = "r1-chat") -> str:
    """The prompt text the model continues: ``<bos>`` then the template around ``task_prompt``."""
    return BOS + get_template(template).prompt_format.format(prompt=task_prompt)


def encode_prompt(task_prompt: str, template: str = "r1-chat") -> list[int]:
    """Token ids of ``render_prompt(task_prompt, template)``, ready for generation."""
    return encode(render_prompt(task_prompt, template))


def render_completion(thinking: str, answer: str) -> str:
    """A whole response in the R1 format (§2.2.3): the reasoning, then the answer."""
    return f"{THINK}\n{thinking}\n{END_THINK}\n{ANSWER}{answer}{END_ANSWER}"


def render_example(task: Task, template: str = "r1-chat") -> str:
    """Prompt plus reference response plus ``<eos>``: one supervised (SFT) training text."""
    prefill = get_template(template).prefill
    completion = render_completion(task.thinking, task.answer)
    return render_prompt(task.prompt, template) + completion[len(prefill) :] + EOS


def encode_example(task: Task, template: str = "r1-chat") -> tuple[list[int], int]:
    """Token ids of ``render_example`` and how many of them are prompt (to mask from the loss)."""
    return encode(render_example(task, template)), len(encode_prompt(task.prompt, template))


def encode_conversation(task_prompt: str, response: str, template: str = "r1-chat") -> tuple[list[int], int]:
    """Token ids of the prompt, then `response` (a whole response as `decode_response` returns it,
    starting with the template's prefill), then ``<eos>``; and how many of them are prompt."""
    prefill = get_template(template).prefill
    if not response.startswith(prefill):
        raise ValueError(
            f"response {response[:20]!r}... does not start with the template's prefill {prefill!r}"
        )
    prompt = encode_prompt(task_prompt, template)
    return prompt + encode(response[len(prefill) :] + EOS), len(prompt)


def decode_response(generated_ids: Sequence[int], template: str = "r1-chat") -> str:
    """The response text of the ids generated after the prompt.

    Stops at the first ``<eos>``, drops ``<pad>`` and puts back the template's prefill, so the
    result is the whole response as ``render_completion`` would write it.
    """
    kept = []
    for token_id in generated_ids:
        if token_id == EOS_ID:
            break
        if token_id != PAD_ID:
            kept.append(token_id)
    return get_template(template).prefill + decode(kept)


@dataclass(frozen=True)
class ParsedResponse:
    """The reasoning and the answer of a response; None where that block is not well-formed."""

    thinking: str | None
    answer: str | None


def _block(response: str, opening: str, closing: str) -> str | None:
    """The text inside the only ``opening ... closing`` pair; None unless there is one."""
    if response.count(opening) != 1 or response.count(closing) != 1:
        return None
    start = response.index(opening) + len(opening)
    end = response.index(closing)
    return response[start:end] if start <= end else None


def parse_response(response: str) -> ParsedResponse:
    """Read the ``<think>`` and ``<answer>`` blocks of a response, both stripped of whitespace.

    A block counts only if its opening and closing tag each occur exactly once, in that order; a
    response with two answers has no answer, so a policy cannot hedge between candidates.
    """
    thinking = _block(response, THINK, END_THINK)
    answer = _block(response, ANSWER, END_ANSWER)
    return ParsedResponse(
        thinking=None if thinking is None else thinking.strip(),
        answer=None if answer is None else answer.strip(),
    )
