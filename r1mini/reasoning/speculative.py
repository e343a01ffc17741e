"""Multi-token prediction as a speculative-decoding draft: how often would the main model accept it?

V3 paper §2.2 ("MTP in Inference"): the MTP modules can be dropped after training, or kept to draft
tokens for speculative decoding. With depth D = 1, one forward of the main model at position i gives
its next token t_{i+1} and hidden state h_i; the MTP module combines h_i with the embedding of that
token (eq. 21-23) and drafts t_{i+2}. The next forward runs on both tokens at once; under greedy
verification the draft is *accepted* if it equals the main model's own greedy choice at i+1, and
then that forward has produced two tokens instead of one. V3 §5.4.3 measures an acceptance rate of
85-90% for the second token across generation topics, and 1.8x the tokens per second.

`check_drafts` measures this on any sequences by teacher forcing: one forward of the main model and
its MTP module over whole sequences (as in training) gives, at every position i, the main model's
greedy guess of t_{i+1} and the module's greedy guess of t_{i+2} made from the *true* t_{i+1}. On
reference texts that is the module's accuracy. On the main model's own greedy output
(`greedy_responses`) every t_{i+1} is the main model's choice, so the draft hit rate *is* the
acceptance rate of greedy speculative decoding, and `speculative_forwards` counts the forwards that
decoding would take.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from r1mini.model import Transformer
from r1mini.reasoning.generate import generate
from r1mini.reasoning.tokenizer import PAD_ID, VOCAB_SIZE

V3_ACCEPTANCE = (0.85, 0.90)  # V3 §5.4.3: acceptance rate of the second (MTP-drafted) token


@dataclass(frozen=True)
class DraftCheck:
    """The main model's and the MTP module's greedy guesses at every position of some sequences.

    Attributes:
        tokens: [B, T] the sequences (right-padded).
        main: [B, T-2] the main model's greedy guess, at position i, of token i+1.
        draft: [B, T-2] the depth-1 MTP module's greedy guess, at position i, of token i+2, made
            from the main model's h_i and the embedding of the true token i+1.
        scored: [B, T-2] bool, True where tokens i+1 and i+2 are both targets (e.g. both generated).
    """

    tokens: torch.Tensor
    main: torch.Tensor
    draft: torch.Tensor
    scored: torch.Tensor

    @property
    def main_hits(self) -> torch.Tensor:
        """[B, T-2] bool: the main model's guess at i is token i+1."""
        return self.main == self.tokens[:, 1:-1]

    @property
    def draft_hits(self) -> torch.Tensor:
        """[B, T-2] bool: the MTP module's draft at i is token i+2."""
        return self.draft == self.tokens[:, 2:]

    @property
    def main_accuracy(self) -> float:
        """Share of scored positions where the main model's next-token guess is right."""
        return _share(self.main_hits, self.scored)

    @property
    def draft_accuracy(self) -> float:
        """Share of scored positions where the MTP draft of the token after next is right: the
        acceptance rate when the sequences are the main model's own greedy output."""
        return _share(self.draft_hits, self.scored)

    def accepted(self, row: int) -> list[bool]:
        """Draft hits of sequence `row` over its scored positions, in order (what
        `speculative_forwards` takes, for the main model's own greedy output)."""
        return self.draft_hits[row][self.scored[row]].tolist()

    def forwards(self) -> tuple[int, int]:
        """(plain, speculative): main-model forwards that greedy decoding without and with the MTP
        draft takes to produce every sequence's scored tokens, summed over the batch. Meaningful when
        the sequences are the main model's greedy output (one forward per token without drafts)."""
        plain = speculative = 0
        for row in range(self.tokens.shape[0]):
            accepted = self.accepted(row)
            plain += len(accepted) + 1
            speculative += speculative_forwards(accepted)
        return plain, speculative


def _share(hits: torch.Tensor, scored: torch.Tensor) -> float:
    n = int(scored.sum())
    if n == 0:
        raise ValueError("no scored positions: the sequences need two consecutive target tokens")
    return float((hits & scored).sum()) / n


@torch.no_grad()
def check_drafts(
    model: Transformer, tokens: torch.Tensor, targets: torch.Tensor, vocab_limit: int | None = VOCAB_SIZE
) -> DraftCheck:
    """Teacher-force `tokens` [B, T] (right-padded) through the main model and its first MTP module.

    targets: [B, T], nonzero where a token counts as a prediction target (the response, or the
    generated tokens); position i is scored if tokens i+1 and i+2 both are. vocab_limit: guesses
    are taken among the first `vocab_limit` ids (the tokenizer's; None: the whole head).
    The model runs in eval mode (its previous mode is restored).
    """
    if not model.mtp:
        raise ValueError("check_drafts: the model has no MTP module (config.n_mtp_layers = 0)")
    if tokens.dim() != 2 or tokens.shape[1] < 3:
        raise ValueError(f"check_drafts: tokens must be [B, T] with T >= 3; got {tuple(tokens.shape)}")
    if targets.shape != tokens.shape:
        raise ValueError(
            f"check_drafts: targets {tuple(targets.shape)} must have the shape of tokens "
            f"{tuple(tokens.shape)}"
        )
    was_training = model.training
    model.eval()
    try:
        tokens = tokens.to(model.device)
        logits, hidden = model(tokens, return_hidden=True)  # [B, T, V], [B, T, dim]
        first, *_ = model.mtp_logits(hidden, tokens)  # [B, T-1, V]: position i predicts t_{i+2}
    finally:
        model.train(was_training)
    main = logits[:, :-2, :vocab_limit].argmax(-1)  # [B, T-2]: guess of t_{i+1}
    draft = first[:, :-1, :vocab_limit].argmax(-1)  # [B, T-2]: guess of t_{i+2}
    target = targets.to(tokens.device) != 0  # [B, T]
    scored = target[:, 1:-1] & target[:, 2:]  # [B, T-2]
    return DraftCheck(tokens=tokens, main=main, draft=draft, scored=scored)


def greedy_responses(
    model: Transformer, prompts: Sequence[Sequence[int]], max_new_tokens: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each prompt followed by the model's greedy response (KV-cached `generate`, up to and
    including `<eos>`), right-padded with `<pad>`.

    Returns tokens [B, T] and targets [B, T] bool, True on the generated tokens: what `check_drafts`
    needs to measure the acceptance rate of the model's own MTP drafts.
    """
    generation = generate(model, prompts, max_new_tokens, temperature=0.0, vocab_limit=VOCAB_SIZE)
    length = max(len(p) + len(g) for p, g in zip(prompts, generation.generated, strict=True))
    tokens = torch.full((len(prompts), length), PAD_ID, dtype=torch.long)  # [B, T]
    targets = torch.zeros(len(prompts), length, dtype=torch.bool)  # [B, T]
    for row, (prompt, response) in enumerate(zip(prompts, generation.generated, strict=True)):
        end = len(prompt) + len(response)
        tokens[row, :end] = torch.tensor([*prompt, *response])
        targets[row, len(prompt) : end] = True
    return tokens, targets


def speculative_forwards(accepted: Sequence[bool]) -> int:
    """Main-model forwards (the prefill included) that greedy decoding with one MTP draft per step
    takes to produce `len(accepted) + 1` tokens; without drafts it takes `len(accepted) + 1`.

    accepted[k]: whether the draft of token k+1, made in the forward that produced token k, equals
    the main model's token k+1. Each forward confirms the pending draft's token; if the draft was
    right, its position's output is the token after it as well, and a new draft follows.
    """
    n = len(accepted) + 1  # tokens to produce
    forwards, last = 1, 0  # the prefill produces token 0 and drafts token 1
    while last < n - 1:
        forwards += 1
        last = min(last + 2, n - 1) if accepted[last] else last + 1
    return forwards
