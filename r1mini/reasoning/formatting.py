"""A non-reasoning task family with no right answer, only preferred ones: writing a number for a
reader (R1 §2.3.3-2.3.4; the guide's third step of the usual recipe, preference tuning).

R1's last two stages reach beyond checkable problems. Stage 3's SFT set adds about 200K
"non-reasoning" samples (writing, factual QA, self-cognition, translation), and "for simpler
queries, such as 'hello', we do not provide a CoT in response" (§2.3.3). Stage 4 scores such
prompts with reward models trained on human preferences, judging helpfulness on "the final
summary" only (§2.3.4).

Our family is a formatting request the miniature can write with the tokens it already knows:
``write 4781 for a reader``. Every reply has an empty ``<think>`` block and several are acceptable:
``4 781`` (thousands grouped with a space, as the SI and ISO style guides write long numbers),
``4781``, or ``4 7 8 1``. Like a real SFT set, which mixes the writing of many people, the SFT
replies come from three writers (``STYLES``, drawn with equal shares). ``rate_reply`` stands in for
the people whose preferences train a reward model: it prefers the grouped form, accepts the plain
one, dislikes digits spaced one by one, and gives nothing for a reply whose digits are not the
number asked for. The policy never sees it: RL sees only a reward model fitted to pairs it ranked
(`reward_model.fit_preference_model`), and DPO only the pairs (`training.dpo`); both come from
`reward_model.rank_pairs`, which ranks a model's own replies with the rater.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable, Sequence

from r1mini.model import Transformer
from r1mini.reasoning.generate import generate_text
from r1mini.reasoning.task import Language, Task, Verdict
from r1mini.reasoning.template import parse_response

KIND = "format"
DEFAULT_DIFFICULTY = 4  # digits of the number
MAX_REPLY = 24  # tokens a reply needs: tags and a number's few characters
STYLES: dict[str, Callable[[int], str]] = {  # how each writer of the SFT data writes the number
    "grouped": lambda n: f"{n:,}".replace(",", " "),
    "plain": str,
    "spaced": lambda n: " ".join(str(n)),
}
RATINGS = {"grouped": 2.0, "plain": 1.0, "spaced": 0.5}  # the hidden rater's preference
NO_RULE = Verdict(False, "no rule judges how a number is written: a learned reward model does (R1 §2.3.4)")
LANGUAGE = Language(symbols="", keywords=frozenset())  # the reply has no reasoning to read


def number_of(task: Task) -> int:
    """The number a formatting task asks to write (``write 4781 for a reader`` -> 4781)."""
    found = re.fullmatch(r"write ([0-9]+) for a reader", task.prompt)
    if task.kind != KIND or found is None:
        raise ValueError(f"task {task.prompt!r} ({task.kind}) is not a {KIND!r} task")
    return int(found.group(1))


def style_of(task: Task, answer: str | None) -> str:
    """Which of `STYLES` an answer is written in: "none" without an answer, "other" for anything
    else (wrong digits included)."""
    if answer is None:
        return "none"
    n = number_of(task)
    return next((style for style, write in STYLES.items() if answer == write(n)), "other")


def rate_reply(task: Task, response: str) -> float:
    """The hidden rater's score of a whole response: `RATINGS` of its answer's style, 0 for any
    other answer, -1 without a single ``<answer>`` block."""
    style = style_of(task, parse_response(response).answer)
    return {"none": -1.0, "other": 0.0}.get(style, RATINGS.get(style, 0.0))


def make_format(rng: random.Random, difficulty: int = DEFAULT_DIFFICULTY) -> Task:
    """A number of `difficulty` digits to write for a reader, answered (for SFT) by a writer drawn
    from `STYLES`."""
    if difficulty < 1:
        raise ValueError(f"difficulty={difficulty} must be at least 1 (digits of the number)")
    n = rng.randrange(10 ** (difficulty - 1), 10**difficulty)
    style = rng.choice(list(STYLES))
    task = Task(
        kind=KIND,
        difficulty=difficulty,
        prompt=f"write {n} for a reader",
        answer="",
        thinking="",
        checker=_no_rule,
        language=LANGUAGE,
        verifiable=False,
    )
    return dataclasses.replace(task, answer=STYLES[style](n))


def _no_rule(answer_text: str) -> Verdict:
    return NO_RULE


def style_shares(
    model: Transformer,
    tasks: Sequence[Task],
    samples: int = 1,
    temperature: float = 0.0,
    seed: int = 0,
    template: str = "r1-chat",
) -> dict[str, float]:
    """How `model` writes the numbers of `tasks` (`samples` replies each, greedy at temperature 0):
    the share of replies in each of `STYLES`, "other" (digits not the number asked for, or another
    layout) and "none" (no answer block), and "rater", the hidden rater's mean score."""
    owners = [task for task in tasks for _ in range(samples)]
    replies = generate_text(
        model, [t.prompt for t in owners], MAX_REPLY, template=template, temperature=temperature, seed=seed
    )
    styles = [style_of(t, parse_response(r).answer) for t, r in zip(owners, replies, strict=True)]
    shares = {style: styles.count(style) / len(styles) for style in (*STYLES, "other", "none")}
    shares["rater"] = sum(rate_reply(t, r) for t, r in zip(owners, replies, strict=True)) / len(replies)
    return shares
