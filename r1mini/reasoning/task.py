"""A verifiable task: a problem whose answer a rule can check, and its held-out split.

R1-Zero learns to reason from rule-based rewards alone: "for math problems with deterministic
results, the model is required to provide the final answer in a specified format, enabling
reliable rule-based verification" (R1 paper §2.2.2). A ``Task`` carries what such training needs:
the prompt, a reference answer and the reference step-by-step ``thinking`` (for supervised cold
starts, §2.3.1), a checker, and the words its reasoning is written in (for the
language-consistency reward, §2.3.2).

Held-out problems are chosen by a hash of the prompt, not by a seed, so a problem is in the test
split or the training split whatever generator, seed or difficulty produced it.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Split = Literal["train", "test"]
SPLITS: tuple[Split, ...] = ("train", "test")
TEST_BUCKETS = 10  # a problem is held out when its prompt hashes into bucket 0 of 10


class Verdict(NamedTuple):
    """A checker's judgement of one answer, with the reason in words for the reader."""

    ok: bool
    reason: str


def shorten(text: str, limit: int = 40) -> str:
    """`text` for a reason in words, cut to `limit` characters if longer (a model can write an
    answer thousands of characters long)."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


@dataclass(frozen=True)
class Language:
    """The words a task's reasoning is written in.

    A word belongs if it is one of ``keywords`` or is spelled only with ``symbols`` (numbers and
    equations such as ``7+5=12``).
    """

    symbols: str
    keywords: frozenset[str]

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str) or not word:
            return False
        return word in self.keywords or all(character in self.symbols for character in word)


@dataclass(frozen=True)
class Task:
    """One problem. ``check`` and ``verify`` judge an answer (the text inside ``<answer>``).

    ``verifiable`` is False for a prompt no rule can judge (a chat reply, R1 §2.3.4): its ``answer``
    is one writer's reply, its checker says no rule applies, and RL scores it with a learned
    reward model instead; accuracy and held-out evaluations leave it out.
    """

    kind: str
    difficulty: int
    prompt: str
    answer: str
    thinking: str
    checker: Callable[[str], Verdict] = field(repr=False, compare=False)
    language: Language = field(repr=False, compare=False)
    verifiable: bool = field(default=True, compare=False)

    def verify(self, answer_text: str) -> Verdict:
        """Judge ``answer_text``, with a reason; never raises, whatever the text."""
        return self.checker(answer_text)

    def check(self, answer_text: str) -> bool:
        """Whether ``answer_text`` solves the task."""
        return self.verify(answer_text).ok

    @property
    def split(self) -> Split:
        """``"test"`` for held-out problems, ``"train"`` for the rest."""
        return split_of(self.prompt)


def split_of(prompt: str) -> Split:
    """The split of a problem, from a stable hash of its canonical text (not Python's ``hash``)."""
    digest = hashlib.sha256(prompt.encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") % TEST_BUCKETS == 0 else "train"
