"""Sampling responses from the model: batched decoding with the KV cache.

The R1 paper samples every response it scores, both to evaluate (§3, "Evaluation Setup":
temperature 0.6, top-p 0.95, k responses per question) and to train (GRPO draws a group of outputs
per question, §2.2.1). Decoding is autoregressive: the prompt is run once (the prefill, which fills
each layer's KV cache, V3 paper §2.1.1), then each new token is a single position that attends to
the cache. With absorbed MLA that cache holds only the latent ``c^{KV}`` and the shared roped key.

Prompts of different lengths share one batch by left padding: every prompt ends at the same
position, so every sequence samples its next token at the same step, and ``attention_mask`` hides
the padding keys (RoPE is relative, so a shifted prompt gives the same logits). A sequence is
finished once it samples a stop token; it is then dropped from the batch and its cache rows, so
it costs nothing more, and its remaining positions hold ``<pad>``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from r1mini import checks
from r1mini.model import Transformer
from r1mini.reasoning.template import decode_response, encode_prompt, get_template
from r1mini.reasoning.tokenizer import (
    END_THINK,
    EOS_ID,
    PAD_ID,
    TOKEN_TO_ID,
    VOCAB_SIZE,
    decode,
)

OnToken = Callable[[int, torch.Tensor, torch.Tensor], None]
Part = Literal["thinking", "answer"]


@dataclass(frozen=True)
class Generation:
    """What ``generate`` returns.

    Attributes:
        tokens: [B, P + N] the left-padded prompts (P = longest prompt) followed by the N generated
            positions; ``<pad>`` after a sequence finished.
        prompt_lengths: [B] tokens of each prompt, without padding.
        generated: per sequence, the new token ids, ending with the stop token if it finished.
        lengths: [B] ``len(generated[b])``.
        finished: [B] True where the sequence sampled a stop token (else it hit max_new_tokens).
    """

    tokens: torch.Tensor
    prompt_lengths: list[int]
    generated: list[list[int]]
    lengths: torch.Tensor
    finished: torch.Tensor


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Set to -inf the logits outside the top ``top_k`` and outside the nucleus ``top_p``.

    logits: [B, V]. The nucleus (Holtzman et al. 2020) is the smallest set of most likely tokens
    whose probability reaches ``top_p``; the most likely token is always kept.
    """
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # [B, 1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)  # [B, V]
        probs = sorted_logits.softmax(dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs  # [B, V]: probability of the likelier tokens
        drop_sorted = mass_before >= top_p  # [B, V] in sorted order
        drop = torch.empty_like(drop_sorted).scatter(-1, order, drop_sorted)  # [B, V]
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token per row of ``logits`` [B, V]: argmax when ``temperature == 0``, else a draw from
    ``softmax(logits / temperature)`` restricted by ``filter_logits``. Returns [B] int64."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    return torch.multinomial(_probabilities(logits, temperature, top_k, top_p), 1, generator=generator)[:, 0]


def _probabilities(
    logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None
) -> torch.Tensor:
    """[B, V] the distribution `sample_next` draws from."""
    return filter_logits(logits.float() / temperature, top_k, top_p).softmax(dim=-1)


def _sample(
    logits: torch.Tensor,
    groups: torch.Tensor,
    generators: list[torch.Generator | None],
    temperature: float,
    top_k: int | None,
    top_p: float | None,
) -> torch.Tensor:
    """`sample_next` for each group of rows with its own generator: logits [B, V], groups [B]
    (indices into `generators`) -> [B] token ids. The distributions are computed once for all
    rows; only the draws are made group by group, each group's rows in their order."""
    if len(generators) == 1 or temperature == 0:
        return sample_next(logits, temperature, top_k, top_p, generators[0])
    order = groups.argsort(stable=True)  # [B]: rows sorted by group, in order within each
    probs = _probabilities(logits, temperature, top_k, top_p).index_select(0, order)  # [B, V]
    counts = torch.bincount(groups, minlength=len(generators)).tolist()  # rows per group
    draws = [
        torch.multinomial(rows, 1, generator=generator)[:, 0]
        for rows, generator, count in zip(probs.split(counts), generators, counts, strict=True)
        if count
    ]
    return torch.empty_like(order).index_copy_(0, order, torch.cat(draws))  # [B], back in row order


def _check_arguments(
    model: Transformer,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    vocab_limit: int | None,
    seed: int | Sequence[int] | None,
    pad_to: int = 0,
) -> None:
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or not prompts:
        raise ValueError(f"prompts must be a non-empty list of token-id lists; got {type(prompts).__name__}")
    vocab = model.config.vocab_size
    for row, prompt in enumerate(prompts):
        if isinstance(prompt, str):
            raise ValueError(
                f"prompts[{row}] is text; generate takes token ids (encode_prompt(text)), "
                "generate_text takes text"
            )
        if not isinstance(prompt, Sequence | torch.Tensor) or len(prompt) == 0:
            raise ValueError(f"prompts[{row}] must be a non-empty list of token ids; got {prompt!r:.60}")
        ids = prompt.tolist() if isinstance(prompt, torch.Tensor) else prompt
        if not all(
            isinstance(i, numbers.Integral) and not isinstance(i, bool) and 0 <= i < vocab for i in ids
        ):
            raise ValueError(
                f"prompts[{row}] must hold integer ids in [0, vocab_size={vocab}); got {ids!r:.60}"
            )
    checks.integer("max_new_tokens", max_new_tokens, minimum=1)
    checks.integer("pad_to", pad_to, minimum=0)
    longest, context = max(pad_to, *(len(prompt) for prompt in prompts)), model.config.max_seq_len
    if longest + max_new_tokens > context:
        raise ValueError(
            f"the longest prompt has {longest} tokens and max_new_tokens={max_new_tokens}: "
            f"{longest} + {max_new_tokens} = {longest + max_new_tokens} exceeds the context, "
            f"max_seq_len={context}"
        )
    checks.finite("temperature", temperature, minimum=0)
    if top_k is not None:
        checks.integer("top_k", top_k, minimum=1)
    if top_p is not None and not 0 < checks.finite("top_p", top_p) <= 1:
        raise ValueError(f"top_p={top_p} must lie in (0, 1] (or None for no limit)")
    if vocab_limit is not None and not 1 <= checks.integer("vocab_limit", vocab_limit) <= vocab:
        raise ValueError(f"vocab_limit={vocab_limit} must lie in 1..vocab_size={vocab}")
    seeds = seed if isinstance(seed, Sequence) else [] if seed is None else [seed]
    if isinstance(seed, Sequence) and len(seed) != len(prompts):
        raise ValueError(f"seed has {len(seed)} entries for {len(prompts)} prompts: give one per prompt")
    for value in seeds:
        checks.integer("seed", value, minimum=0)


@torch.no_grad()
def generate(
    model: Transformer,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_ids: Sequence[int] = (EOS_ID,),
    vocab_limit: int | None = None,
    seed: int | Sequence[int] | None = None,
    pad_to: int = 0,
    use_cache: bool = True,
    on_token: OnToken | None = None,
) -> Generation:
    """Continue each prompt (a list of token ids) by up to ``max_new_tokens`` sampled tokens.

    temperature: 0 for greedy decoding; top_k / top_p restrict sampling (``filter_logits``).
    stop_ids: tokens that finish a sequence (kept as its last generated token); () never stops.
    vocab_limit: sample only ids below it, when the model's head is wider than the tokenizer's
        vocabulary (the mini preset has 128 rows for the 88 characters and special tokens).
    seed: seeds a ``torch.Generator`` so the same call draws the same samples. One seed per
        prompt instead gives each seed its own generator, drawn by the rows that share it, so a
        prompt's samples do not depend on which prompts share its batch (e.g. its process, when
        GRPO's prompts are split over processes).
    pad_to: left-pad the prompts to at least this many positions, so that the prompts of a batch
        split over processes sit at the positions one batch would give them.
    use_cache: False recomputes the whole sequence at every step (the baseline the cache saves).
    on_token: called after each step with (step, tokens [B], finished [B]), ``<pad>`` for rows
        that had already finished; for streaming text see ``text_stream``.
    The model runs in eval mode (its previous mode is restored) and under ``no_grad``, not
    ``inference_mode``, so that the KV cache it leaves (the sequences still running at the last
    step) can be overwritten by a later training forward.
    """
    _check_arguments(model, prompts, max_new_tokens, temperature, top_k, top_p, vocab_limit, seed, pad_to)
    device, batch = model.device, len(prompts)
    prompt_len = max(pad_to, *(len(prompt) for prompt in prompts))
    tokens = torch.full((batch, prompt_len + max_new_tokens), PAD_ID, dtype=torch.long, device=device)
    keys = torch.ones(batch, prompt_len + max_new_tokens, dtype=torch.bool, device=device)
    for row, prompt in enumerate(prompts):
        padding = prompt_len - len(prompt)
        tokens[row, padding:prompt_len] = torch.as_tensor(prompt, device=device)  # [B, P + N]
        keys[row, :padding] = False  # [B, P + N]: the attention mask, False on left padding
    padded = bool((~keys).any())
    stops = torch.tensor(list(stop_ids), dtype=torch.long, device=device)
    row_seeds = list(seed) if isinstance(seed, Sequence) else [seed] * batch  # None: global RNG
    generators = {s: None if s is None else torch.Generator(device=device).manual_seed(s) for s in row_seeds}
    group_of = torch.tensor([list(generators).index(s) for s in row_seeds], device=device)  # [B]
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch, dtype=torch.long, device=device)
    active = torch.arange(batch, device=device)  # rows of the batch still running

    was_training = model.training
    model.eval()
    try:
        model.reset_cache()
        mask = keys[:, :prompt_len] if padded else None
        logits = model(tokens[:, :prompt_len], 0, attention_mask=mask)[:, -1, :vocab_limit]
        for step in range(max_new_tokens):
            position = prompt_len + step
            new = _sample(logits, group_of[active], list(generators.values()), temperature, top_k, top_p)
            tokens[active, position] = new
            lengths[active] += 1
            stopped = torch.isin(new, stops)  # [B_active]
            finished[active] = stopped
            if on_token is not None:
                on_token(step, tokens[:, position].clone(), finished.clone())
            n_stopped = int(stopped.sum())  # the step's one wait for the device
            if step == max_new_tokens - 1 or n_stopped == len(stopped):
                break
            if n_stopped:
                active = active[~stopped]
                if use_cache:
                    model.keep_cache_rows(~stopped)
            mask = keys[active, : position + 1] if padded else None
            if use_cache:
                logits = model(tokens[active, position : position + 1], position, attention_mask=mask)
            else:
                logits = model(tokens[active, : position + 1], 0, attention_mask=mask)
            logits = logits[:, -1, :vocab_limit]  # [B_active, V]
    finally:
        model.train(was_training)

    generated = [tokens[row, prompt_len : prompt_len + int(lengths[row])].tolist() for row in range(batch)]
    return Generation(
        tokens=tokens,
        prompt_lengths=[len(prompt) for prompt in prompts],
        generated=generated,
        lengths=lengths,
        finished=finished,
    )


def generate_text(
    model: Transformer,
    prompts: Sequence[str],
    max_new_tokens: int | None = None,
    *,
    template: str = "r1-chat",
    **sampling: Any,
) -> list[str]:
    """Put each task prompt in ``template``, generate, and return the decoded responses.

    max_new_tokens defaults to what the context leaves after the longest prompt; ``sampling``
    takes ``generate``'s keyword arguments. Sampling keeps to the tokenizer's vocabulary. Each
    response includes the template's prefill
    (``decode_response``), so it can go straight to the rewards and ``evaluate``.
    """
    if isinstance(prompts, str) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise ValueError(f"generate_text takes a non-empty list of prompt strings; got {prompts!r:.60}")
    ids = [encode_prompt(prompt, template) for prompt in prompts]
    if max_new_tokens is None:
        max_new_tokens = model.config.max_seq_len - max(len(prompt) for prompt in ids)
    result = generate(model, ids, max_new_tokens, vocab_limit=VOCAB_SIZE, **sampling)
    return [decode_response(generated, template) for generated in result.generated]


def text_stream(on_piece: Callable[[int, str, Part], None], template: str = "r1-chat") -> OnToken:
    """An ``on_token`` callback that hands each sequence's text to ``on_piece(row, piece, part)``.

    ``part`` is ``"thinking"`` up to and including ``</think>``, then ``"answer"``, so a notebook
    can render the reasoning and the answer differently as they appear. The template's prefill
    comes first; ``<pad>`` and ``<eos>`` are not text and are skipped.
    """
    end_think = TOKEN_TO_ID[END_THINK]
    prefill = get_template(template).prefill
    parts: list[Part] = []

    def on_token(step: int, tokens: torch.Tensor, finished: torch.Tensor) -> None:
        if step == 0:
            parts[:] = ["thinking"] * len(tokens)
            if prefill:
                for row in range(len(tokens)):
                    on_piece(row, prefill, "thinking")
        for row, token in enumerate(tokens.tolist()):
            if token in (PAD_ID, EOS_ID):
                continue
            on_piece(row, decode([token]), parts[row])
            if token == end_think:
                parts[row] = "answer"

    return on_token


ANSI_STYLES: dict[Part, str] = {"thinking": "\033[2m", "answer": "\033[1m"}  # dim, bold


def stream_print(row: int = 0, template: str = "r1-chat") -> OnToken:
    """An ``on_token`` callback that prints sequence ``row`` live: thinking dim, answer bold (ANSI
    escapes, which terminals and Jupyter render)."""

    def show(piece_row: int, piece: str, part: Part) -> None:
        if piece_row == row:
            print(f"{ANSI_STYLES[part]}{piece}\033[0m", end="", flush=True)

    return text_stream(show, template)
