"""`python -m r1mini generate`: prompts in, responses out, from any checkpoint r1mini reads.

    python -m r1mini generate --checkpoint r1 --prompt "compute 478+56"
    echo "compute 502-38" | python -m r1mini generate --checkpoint r1-zero --stream
    python -m r1mini generate --checkpoint ~/DeepSeek-R1 --prompt "What is 7*8?" --stream-weights

`--checkpoint` is a shipped checkpoint's name (`assets/checkpoints/`), an r1mini checkpoint
directory, or a directory DeepSeek published (`config.json` with a `model_type`, the safetensors
shards, `tokenizer.json`), loaded by `r1mini.io.load_pretrained` (`--stream-weights` reads one
block at a time for a machine that cannot hold the model). Without `--prompt`, each line of stdin
is a prompt. Sampling defaults to R1's evaluation setting (temperature 0.6, top-p 0.95, §3).
Under `torchrun --nproc-per-node N -m r1mini generate …` the model is sharded over the N processes
(`r1mini.parallel`; a published directory is read slice by slice, each process its own part) and
every process samples the same tokens; everything printed goes through `emit`, which prints on
rank 0 only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from r1mini import checks
from r1mini.io import load, load_pretrained
from r1mini.io.checkpoint import SHIPPED
from r1mini.io.published_chat import CHAT_FORMATS, PublishedChat
from r1mini.model import Transformer
from r1mini.parallel import init_from_env, shard_model, world
from r1mini.reasoning.generate import generate
from r1mini.reasoning.template import TEMPLATES, decode_response, encode_prompt
from r1mini.reasoning.tokenizer import EOS_ID, VOCAB_SIZE

PUBLISHED_NEW_TOKENS = 512  # default response budget for a published model (its context is 160K)
DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}


def emit(text: str, end: str = "\n") -> None:
    """Write to stdout: the only place `generate` prints, and only on rank 0 of a sharded run."""
    if world().leader:
        print(text, end=end, flush=True)


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser("generate", parents=[common], help="responses from a checkpoint, to prompts")
    p.add_argument("--checkpoint", required=True, help="a shipped name, an r1mini or a published directory")
    p.add_argument("--prompt", action="append", help="a prompt (repeatable); default: one per stdin line")
    p.add_argument(
        "--template", default=None, help=f"r1mini: {list(TEMPLATES)}; published: {list(CHAT_FORMATS)}"
    )
    p.add_argument("--temperature", type=float, default=0.6, help="0 for greedy (default 0.6)")
    p.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling (default 0.95)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="default: what the context leaves")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling (default 0)")
    p.add_argument("--stream", action="store_true", help="print each response token by token")
    p.add_argument("--stream-weights", action="store_true", help="published: read one block at a time")
    p.add_argument(
        "--fp8", choices=("dequantize", "keep"), default="dequantize", help="published FP8 weights"
    )
    p.add_argument("--dtype", choices=list(DTYPES), default="bfloat16", help="published: weight dtype")


@dataclass
class Speaker:
    """A model with its text interface: prompts to ids, generated ids to text, its stop token."""

    model: Transformer
    encode: Callable[[str], list[int]]
    decode: Callable[[list[int]], str]
    stop_id: int
    vocab_limit: int | None
    default_new_tokens: int | None


def open_checkpoint(args: argparse.Namespace) -> Speaker:
    """Load what `--checkpoint` names, after checking the template it will be used with."""
    path = Path(args.checkpoint).expanduser()
    if not path.is_dir():
        if not (SHIPPED / args.checkpoint).is_dir():
            names = sorted(p.name for p in SHIPPED.iterdir() if p.is_dir()) if SHIPPED.is_dir() else []
            raise ValueError(
                f"--checkpoint={args.checkpoint} is neither a directory nor a shipped checkpoint {names}"
            )
        path = SHIPPED / args.checkpoint
    config_path = path / "config.json"
    published = config_path.is_file() and "model_type" in json.loads(config_path.read_text())
    if published:
        chat_format = args.template or "r1"
        if chat_format not in CHAT_FORMATS:
            raise ValueError(f"--template={chat_format}: a published checkpoint takes {list(CHAT_FORMATS)}")
        chat = PublishedChat.from_directory(path)
        model = load_pretrained(
            path, dtype=DTYPES[args.dtype], fp8=args.fp8, mtp=False, stream=args.stream_weights, world=world()
        )
        prefill = "<think>\n" if chat_format == "r1" else ""  # what the prompt opened, shown again

        def decode(ids: list[int]) -> str:
            return prefill + chat.decode([i for i in ids if i != chat.eos_id])

        encode = lambda text: chat.encode(text, chat_format)  # noqa: E731
        return Speaker(model, encode, decode, chat.eos_id, None, PUBLISHED_NEW_TOKENS)
    template = args.template or "r1-chat"
    if template not in TEMPLATES:
        raise ValueError(f"--template={template}: an r1mini checkpoint takes {list(TEMPLATES)}")
    model = shard_model(load(path), world())
    return Speaker(
        model,
        lambda text: encode_prompt(text, template),
        lambda ids: decode_response(ids, template),
        EOS_ID,
        VOCAB_SIZE,
        None,
    )


def run(args: argparse.Namespace) -> None:
    """Check the settings, load the checkpoint, answer every prompt."""
    checks.finite("--temperature", args.temperature, minimum=0)
    if not 0 < checks.finite("--top-p", args.top_p) <= 1:
        raise ValueError(f"--top-p={args.top_p} must lie in (0, 1]")
    if args.max_new_tokens is not None:
        checks.integer("--max-new-tokens", args.max_new_tokens, minimum=1)
    prompts = args.prompt if args.prompt is not None else [line.rstrip("\n") for line in sys.stdin]
    prompts = [prompt for prompt in prompts if prompt.strip()]
    if not prompts:
        raise ValueError("no prompt: pass --prompt TEXT or write prompts on stdin, one per line")
    init_from_env()  # under `torchrun --nproc-per-node N`: N processes share the model
    speaker = open_checkpoint(args)
    ids = [speaker.encode(prompt) for prompt in prompts]
    context = speaker.model.config.max_seq_len
    longest = max(map(len, ids))
    if longest >= context:
        raise ValueError(
            f"a prompt takes {longest} tokens, the model's whole context (max_seq_len={context})"
        )
    room = context - longest
    budget = args.max_new_tokens or min(speaker.default_new_tokens or room, room)
    sampling = dict(
        temperature=args.temperature,
        top_p=args.top_p if args.temperature > 0 else None,
        stop_ids=(speaker.stop_id,),
        vocab_limit=speaker.vocab_limit,
        seed=args.seed,
    )
    if not args.stream:
        result = generate(speaker.model, ids, budget, **sampling)
        for i, (prompt, generated) in enumerate(zip(prompts, result.generated, strict=True)):
            if len(prompts) > 1:
                emit(f"[{i + 1}] {prompt}")
            emit(speaker.decode(generated))
        return
    for i, (prompt, prompt_ids) in enumerate(zip(prompts, ids, strict=True)):
        if len(prompts) > 1:
            emit(f"[{i + 1}] {prompt}")
        generate(speaker.model, [prompt_ids], budget, on_token=streamer(speaker), **sampling)
        emit("")


def streamer(speaker: Speaker) -> Callable[[int, torch.Tensor, torch.Tensor], None]:
    """An `on_token` callback printing the response as it grows (decoded as a whole each step, so
    a character split over several byte-level tokens prints once it is complete)."""
    generated: list[int] = []
    shown = ""

    def on_token(step: int, tokens: torch.Tensor, finished: torch.Tensor) -> None:
        nonlocal shown
        generated.append(int(tokens[0]))
        text = speaker.decode(generated)
        if text.startswith(shown) and not text.endswith("\ufffd"):
            emit(text[len(shown) :], end="")
            shown = text

    return on_token
