"""Rule-based rewards: accuracy, format (R1 paper §2.2.2) and language consistency (§2.3.2).

R1-Zero is trained with two rewards computed by rules, not by a neural reward model, which "may
suffer from reward hacking in the large-scale reinforcement learning process" (§2.2.2):

* accuracy: is the answer right? The text inside ``<answer>`` is judged by the task's checker.
* format: did the model put its reasoning in ``<think> </think>`` and then its answer in
  ``<answer> </answer>``?

R1 adds a language-consistency reward, "calculated as the proportion of target language words in
the CoT" (§2.3.2), against reasoning that mixes languages. Our tasks have no second human
language to drift into, so we define the target language per task kind (``Task.language``): the
numbers, equations and few keywords of its reference reasoning. The reward is the share of the
``<think>`` block's whitespace-separated words that belong to it.

Every reward returns a ``RewardResult`` with a value and the reason for it, and none ever raises:
malformed output scores 0 and the reason says what is malformed.

R1's last stage, "RL for all scenarios" (§2.3.4), keeps these rules for reasoning prompts and judges
the others (helpfulness, harmlessness) with reward models trained on human preferences, reading
only "the final summary" for helpfulness. ``scenario_rewards`` does the same per task: the rules for
a verifiable task, ``preference_rewards`` (a learned reward model's score of the ``<answer>`` block)
for the rest.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from r1mini.reasoning.reward_model import RewardModel
from r1mini.reasoning.task import Task
from r1mini.reasoning.template import parse_response
from r1mini.reasoning.tokenizer import ANSWER, END_ANSWER, END_THINK, EOS, PAD, THINK

TAGS = (THINK, END_THINK, ANSWER, END_ANSWER)
R1_ZERO_WEIGHTS = {"accuracy": 1.0, "format": 1.0}  # equal weight, as in R1-Zero (§2.2.2)
R1_WEIGHTS = {"accuracy": 1.0, "format": 1.0, "language": 1.0}  # summed, as in R1 (§2.3.2)


@dataclass(frozen=True)
class RewardResult:
    """A reward's value for one response and the reason for it, in words."""

    value: float
    reason: str


def format_reward(response: str) -> RewardResult:
    """1 if the response is one ``<think>`` block, then one ``<answer>`` block, and nothing else.

    Whitespace may surround the blocks, and ``<eos>`` or ``<pad>`` may end the response.
    """
    if not response.strip():
        return RewardResult(0.0, "empty response")
    for tag in TAGS:
        if response.count(tag) != 1:
            return RewardResult(0.0, f"{tag} appears {response.count(tag)} times, not once")
    starts = [response.index(tag) for tag in TAGS]
    if starts != sorted(starts):
        found = " ".join(tag for _, tag in sorted(zip(starts, TAGS, strict=True)))
        return RewardResult(0.0, f"tags out of order: {found}, not {' '.join(TAGS)}")
    ends = [start + len(tag) for start, tag in zip(starts, TAGS, strict=True)]
    outside = {
        f"before {THINK}": response[: starts[0]],
        f"between {END_THINK} and {ANSWER}": response[ends[1] : starts[2]],
        f"after {END_ANSWER}": response[ends[3] :].replace(EOS, "").replace(PAD, ""),
    }
    for where, text in outside.items():
        if text.strip():
            return RewardResult(0.0, f"text {where}: {text.strip()[:40]!r}")
    return RewardResult(1.0, f"well-formed: one {THINK} block, then one {ANSWER} block")


def accuracy_reward(response: str, task: Task) -> RewardResult:
    """1 if the only ``<answer>`` block holds an answer the task's checker accepts."""
    answer = parse_response(response).answer
    if answer is None:
        return RewardResult(
            0.0,
            f"no single {ANSWER}...{END_ANSWER} block to check (found {response.count(ANSWER)} "
            f"{ANSWER} and {response.count(END_ANSWER)} {END_ANSWER})",
        )
    verdict = task.verify(answer)
    if verdict.ok:
        return RewardResult(1.0, f"correct: {verdict.reason}")
    return RewardResult(0.0, f"wrong: {verdict.reason} (a right answer: {task.answer})")


def language_reward(response: str, task: Task) -> RewardResult:
    """The share of the reasoning's words that belong to the task's language (§2.3.2)."""
    thinking = parse_response(response).thinking
    if thinking is None:
        return RewardResult(0.0, f"no single {THINK}...{END_THINK} block to read")
    words = thinking.split()
    if not words:
        return RewardResult(0.0, f"the {THINK} block is empty")
    foreign = [word for word in words if word not in task.language]
    share = 1 - len(foreign) / len(words)
    reason = f"{len(words) - len(foreign)} of {len(words)} words are in the {task.kind} language"
    if foreign:
        reason += f"; foreign words: {' '.join(foreign[:3])}"
    return RewardResult(share, reason)


@dataclass(frozen=True)
class Reward:
    """A weighted sum of rewards and every reward it was summed from."""

    total: float
    parts: dict[str, RewardResult]


def combined_reward(response: str, task: Task, weights: Mapping[str, float] = R1_ZERO_WEIGHTS) -> Reward:
    """The weighted sum of the named rewards; ``parts`` reports all three, weighted or not."""
    parts = {
        "accuracy": accuracy_reward(response, task),
        "format": format_reward(response),
        "language": language_reward(response, task),
    }
    for name, weight in weights.items():
        if name not in parts:
            raise ValueError(f"weights has key {name!r}; rewards are {list(parts)}")
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"weights[{name!r}]={weight} must be finite and non-negative")
    total = sum(weight * parts[name].value for name, weight in weights.items())
    return Reward(total=total, parts=parts)


def preference_rewards(
    responses: Sequence[str], model: RewardModel, prompts: Sequence[str] | None = None
) -> list[RewardResult]:
    """A learned reward model's score (in (0, 1)) of each response's ``<answer>`` block, the "final
    summary" R1 judges helpfulness on (§2.3.4), beside its prompt if the model reads prompts; 0 for
    a response without a single answer block."""
    answers = [parse_response(response).answer for response in responses]
    kept = [i for i, answer in enumerate(answers) if answer is not None]
    asked = None if prompts is None else [prompts[i] for i in kept]
    scores = iter(model.score([answers[i] for i in kept], asked).tolist() if kept else [])
    return [
        RewardResult(0.0, f"no single {ANSWER}...{END_ANSWER} block for the reward model to read")
        if answer is None
        else RewardResult(next(scores), "the reward model's score of the answer")
        for answer in answers
    ]


def scenario_rewards(
    responses: Sequence[str],
    tasks: Sequence[Task],
    weights: Mapping[str, float] = R1_WEIGHTS,
    preference: RewardModel | None = None,
) -> list[Reward]:
    """Each response's reward in R1's last stage (§2.3.4): the weighted rules (`combined_reward`)
    for a verifiable task, the `preference` model's score (part "preference") for the others."""
    if len(responses) != len(tasks):
        raise ValueError(f"{len(responses)} responses for {len(tasks)} tasks: give one task per response")
    open_ended = [i for i, task in enumerate(tasks) if not task.verifiable]
    if open_ended and preference is None:
        kind = tasks[open_ended[0]].kind
        raise ValueError(f"task kind {kind!r} has no rule to reward it; pass preference=<a RewardModel>")
    judged = preference_rewards(
        [responses[i] for i in open_ended], preference, [tasks[i].prompt for i in open_ended]
    )
    learned = dict(zip(open_ended, judged, strict=True))
    return [
        Reward(total=learned[i].value, parts={"preference": learned[i]})
        if i in learned
        else combined_reward(response, task, weights)
        for i, (response, task) in enumerate(zip(responses, tasks, strict=True))
    ]
