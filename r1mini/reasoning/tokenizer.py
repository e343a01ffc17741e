"""A character-level tokenizer for the miniature R1 and its conversation markers.

DeepSeek-V3/R1 use a 129,280-entry byte-level BPE vocabulary (V3 paper §4.1). Our miniature model
has a small embedding, so it reads text one character at a time instead. The vocabulary is fixed
and written out below, so that an id means the same thing in every notebook and checkpoint:

* 9 special tokens, each a single id: the padding, begin- and end-of-sequence markers, the chat
  role markers of R1's template (``<|User|>``, ``<|Assistant|>``) and the four tags the R1 paper
  asks the model to reason and answer in (§2.2.3, Table 1): ``<think> </think> <answer> </answer>``.
* 79 characters: newline, space, digits, lower- and upper-case ASCII letters and the punctuation
  that the task traces and the R1-Zero template use.

``<``, ``>`` and ``|`` are deliberately *not* characters: a tag can only ever be its special
token, so ``decode`` and ``encode`` agree in both directions and the rewards never meet a tag
spelled out letter by letter.
"""

import re
import string
from collections.abc import Sequence

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
USER, ASSISTANT = "<|User|>", "<|Assistant|>"
THINK, END_THINK = "<think>", "</think>"
ANSWER, END_ANSWER = "<answer>", "</answer>"
SPECIAL_TOKENS = (PAD, BOS, EOS, USER, ASSISTANT, THINK, END_THINK, ANSWER, END_ANSWER)

CHARACTERS = (
    "\n "
    + string.digits
    + string.ascii_lowercase
    + string.ascii_uppercase
    + "+-*/=()"  # arithmetic and countdown expressions
    + ".,:;?!'\""  # prose in the templates and traces
)

VOCAB = SPECIAL_TOKENS + tuple(CHARACTERS)
VOCAB_SIZE = len(VOCAB)
TOKEN_TO_ID = {token: index for index, token in enumerate(VOCAB)}
PAD_ID, BOS_ID, EOS_ID = TOKEN_TO_ID[PAD], TOKEN_TO_ID[BOS], TOKEN_TO_ID[EOS]

# Longest first, so that no special token is cut short by another one it starts with.
SPECIALS_LONGEST_FIRST = sorted(SPECIAL_TOKENS, key=len, reverse=True)
# One token: the first special token that starts here (longest first), else any one character.
_PIECE = re.compile("|".join(map(re.escape, SPECIALS_LONGEST_FIRST)) + "|.", re.DOTALL)


def split_tokens(text: str) -> list[str]:
    """Cut ``text`` into token strings: each special token whole, every other character alone.

    This never fails, so it also measures the length of text that ``encode`` would reject.
    """
    return _PIECE.findall(text)


def encode(text: str) -> list[int]:
    """Token ids of ``text``; raises ValueError naming the first character not in the vocabulary."""
    ids = []
    position = 0
    for piece in split_tokens(text):
        if piece not in TOKEN_TO_ID:
            raise ValueError(
                f"encode: text has character {piece!r} at position {position}, which is not in "
                f"the vocabulary (allowed: the special tokens and {CHARACTERS!r})"
            )
        ids.append(TOKEN_TO_ID[piece])
        position += len(piece)
    return ids


def decode(ids: Sequence[int]) -> str:
    """The text of ``ids``, special tokens included, so that ``decode(encode(s)) == s``."""
    for position, token_id in enumerate(ids):
        if not 0 <= token_id < VOCAB_SIZE:
            raise ValueError(
                f"decode: ids[{position}] = {token_id} is outside the vocabulary (0 <= id < {VOCAB_SIZE})"
            )
    return "".join(VOCAB[token_id] for token_id in ids)
