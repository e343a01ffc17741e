"""Text in and out of a published DeepSeek checkpoint: its own tokenizer and R1's chat format.

A published directory ships `tokenizer.json` (a byte-level BPE of 128K tokens plus special tokens
such as `<｜User｜>`), read here with Hugging Face's `tokenizers` library, and `config.json` names
the ids of `<｜begin▁of▁sentence｜>` and `<｜end▁of▁sentence｜>` (`bos_token_id`, `eos_token_id`). R1 is
prompted as `<bos><｜User｜>{question}<｜Assistant｜>` and, as DeepSeek's usage notes recommend, its
response is started with `<think>\\n` so that it reasons first (R1 paper §2.2, Table 1 for R1-Zero's
own template).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

USER, ASSISTANT = "<｜User｜>", "<｜Assistant｜>"
CHAT_FORMATS = {
    "r1": "{bos}" + USER + "{prompt}" + ASSISTANT + "<think>\n",  # R1's chat, reasoning first
    "chat": "{bos}" + USER + "{prompt}" + ASSISTANT,  # V3's chat
    "plain": "{bos}{prompt}",  # a base model continuing text
}


@dataclass
class PublishedChat:
    """The tokenizer of a published checkpoint with its begin/end-of-sentence ids."""

    tokenizer: Any  # tokenizers.Tokenizer
    bos_id: int
    eos_id: int

    @classmethod
    def from_directory(cls, directory: str | Path) -> PublishedChat:
        directory = Path(directory)
        path = directory / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: text needs the tokenizer published with the model")
        try:
            from tokenizers import Tokenizer
        except ImportError as e:
            raise ValueError(
                "reading tokenizer.json needs the tokenizers package: pip install tokenizers"
            ) from e
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises its own exception type
            raise ValueError(f"{path} is not a tokenizers file ({e})") from e
        config = json.loads((directory / "config.json").read_text())
        return cls(tokenizer, int(config.get("bos_token_id", 0)), int(config.get("eos_token_id", 1)))

    def encode(self, prompt: str, chat_format: str = "r1") -> list[int]:
        """The token ids of `prompt` put in `chat_format` (one of `CHAT_FORMATS`)."""
        if chat_format not in CHAT_FORMATS:
            raise ValueError(f"chat format {chat_format!r} is unknown; choose from {list(CHAT_FORMATS)}")
        bos = self.tokenizer.id_to_token(self.bos_id)
        text = CHAT_FORMATS[chat_format].format(bos=bos, prompt=prompt)
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int]) -> str:
        """The text of `ids`, special tokens (`<think>`, `<｜end▁of▁sentence｜>`) included."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)
