"""MTP drafts: the guesses are the model's own argmaxes, acceptance and forwards are counted right,
and the model's own greedy output is what its main head predicts."""

import pytest
import torch

from r1mini import ModelConfig, Transformer
from r1mini.reasoning import encode_prompt, generate
from r1mini.reasoning.speculative import (
    DraftCheck,
    check_drafts,
    greedy_responses,
    speculative_forwards,
)
from r1mini.reasoning.tokenizer import PAD_ID, VOCAB_SIZE

NANO = ModelConfig.preset("nano", vocab_size=128)  # a head wide enough for the tokenizer


def make_model(**changes) -> Transformer:
    torch.manual_seed(0)
    return Transformer(NANO.replace(**changes)).eval()


def random_batch(batch: int = 3, length: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
    rng = torch.Generator().manual_seed(1)
    tokens = torch.randint(9, VOCAB_SIZE, (batch, length), generator=rng)  # [B, T], no special tokens
    targets = torch.ones(batch, length)
    targets[:, :2] = 0  # the first two tokens are context
    tokens[-1, -3:], targets[-1, -3:] = PAD_ID, 0  # the last row is shorter, right-padded
    return tokens, targets


@pytest.mark.parametrize(
    ("accepted", "forwards"),
    [
        ([], 1),  # one token: the prefill alone
        ([False] * 5, 6),  # every draft rejected: one forward per token, as without drafts
        ([True] * 4, 3),  # 5 tokens: prefill, then two per forward
        ([True] * 5, 4),  # 6 tokens: the last forward confirms only the last token
        ([True, False, True, False], 3),  # tokens per forward: 0 | 1 2 | 3 4
        ([False, True, True, True], 4),  # 0 | 1 | 2 3 | 4 (its draft was right, but 4 is the last)
    ],
)
def test_speculative_forwards(accepted, forwards):
    assert speculative_forwards(accepted) == forwards


def test_guesses_are_the_heads_argmaxes():
    model = make_model()
    tokens, targets = random_batch()
    check = check_drafts(model, tokens, targets)
    with torch.no_grad():
        logits, hidden = model(tokens, return_hidden=True)
        (mtp,) = model.mtp_logits(hidden, tokens)
    assert check.main.shape == check.draft.shape == check.scored.shape == (3, 7)
    assert torch.equal(check.main, logits[:, :-2, :VOCAB_SIZE].argmax(-1))
    assert torch.equal(check.draft, mtp[:, :-1, :VOCAB_SIZE].argmax(-1))
    # position i is scored when tokens i+1 and i+2 are targets: i >= 1, and not into the padding
    assert check.scored[0].tolist() == [False] + [True] * 6
    assert check.scored[2].tolist() == [False] + [True] * 3 + [False] * 3


def test_right_padding_changes_nothing():
    model = make_model()
    tokens, targets = random_batch()
    batched = check_drafts(model, tokens, targets)
    alone = check_drafts(model, tokens[2:, :-3], targets[2:, :-3])
    assert torch.equal(batched.main[2, :4], alone.main[0])
    assert torch.equal(batched.draft[2, :4], alone.draft[0])


def test_accuracies_acceptance_and_forwards_are_counted_over_scored_positions():
    tokens = torch.tensor([[5, 6, 7, 8, 9, 10], [5, 6, 7, 8, 9, PAD_ID]])  # [2, 6]
    main = tokens[:, 1:-1].clone()  # right everywhere
    main[1, 0] = 0  # ... except at an unscored position
    draft = tokens[:, 2:].clone()
    draft[0, 2] = 0  # a wrong draft at a scored position
    scored = torch.tensor([[False, True, True, True], [False, True, True, False]])
    check = DraftCheck(tokens=tokens, main=main, draft=draft, scored=scored)
    assert check.main_accuracy == 1.0
    assert check.draft_accuracy == 4 / 5
    assert check.accepted(0) == [True, False, True]
    assert check.forwards() == (4 + 3, speculative_forwards([True, False, True]) + 2)


def test_own_greedy_output_is_what_the_main_head_predicts():
    model = make_model()
    prompts = [encode_prompt("What is 12+35?"), encode_prompt("What is 7-3?")]
    tokens, targets = greedy_responses(model, prompts, 12)
    generation = generate(model, prompts, 12, temperature=0.0, vocab_limit=VOCAB_SIZE)
    for row, (prompt, response) in enumerate(zip(prompts, generation.generated, strict=True)):
        end = len(prompt) + len(response)
        assert tokens[row, :end].tolist() == prompt + response
        assert targets[row].nonzero().flatten().tolist() == list(range(len(prompt), end))
        assert (tokens[row, end:] == PAD_ID).all()
    check = check_drafts(model, tokens, targets)
    assert check.main_accuracy == 1.0  # the cached decoding and the full forward agree
    plain, speculative = check.forwards()
    assert plain == sum(len(r) for r in generation.generated)
    assert speculative <= plain


def test_bad_arguments():
    tokens, targets = random_batch()
    with pytest.raises(ValueError, match="no MTP module"):
        check_drafts(make_model(n_mtp_layers=0), tokens, targets)
    with pytest.raises(ValueError, match="T >= 3"):
        check_drafts(make_model(), tokens[:, :2], targets[:, :2])
    with pytest.raises(ValueError, match="must have the shape of tokens"):
        check_drafts(make_model(), tokens, targets[:, 1:])
    check = check_drafts(make_model(), tokens, torch.zeros_like(targets))
    with pytest.raises(ValueError, match="no scored positions"):
        _ = check.draft_accuracy
