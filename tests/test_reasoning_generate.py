"""Generation: the KV cache changes nothing but speed, batching changes nothing, sampling obeys its
knobs, and evaluate_model turns samples into R1's metrics."""

import re

import pytest
import torch

from r1mini import ModelConfig, Transformer, kv_cache_bytes_per_token
from r1mini.bench.__main__ import main as bench
from r1mini.bench.generate import cache_bytes_per_token
from r1mini.reasoning import EOS_ID, PAD_ID, generate_tasks
from r1mini.reasoning.generate import (
    _sample,
    filter_logits,
    generate,
    generate_text,
    sample_next,
    stream_print,
    text_stream,
)
from r1mini.reasoning.sampling_eval import evaluate_model
from r1mini.reasoning.tokenizer import TOKEN_TO_ID, encode

NANO = ModelConfig.preset("nano")


def make_model(attn_impl: str = "absorb", vocab_size: int = NANO.vocab_size) -> Transformer:
    torch.manual_seed(0)
    return Transformer(NANO.replace(attn_impl=attn_impl, vocab_size=vocab_size))


def prompts(*lengths: int, seed: int = 0) -> list[list[int]]:
    """Random prompts of the given lengths, ids above the special tokens."""
    rng = torch.Generator().manual_seed(seed)
    return [torch.randint(3, NANO.vocab_size, (n,), generator=rng).tolist() for n in lengths]


MIXED = prompts(5, 11, 2)


@pytest.mark.parametrize("attn_impl", ["absorb", "naive"])
def test_greedy_with_cache_equals_without(attn_impl):
    model = make_model(attn_impl)
    cached = generate(model, MIXED, 12, temperature=0, stop_ids=())
    uncached = generate(model, MIXED, 12, temperature=0, stop_ids=(), use_cache=False)
    assert torch.equal(cached.tokens, uncached.tokens)
    assert cached.generated == uncached.generated


def test_greedy_batched_equals_each_prompt_alone():
    model = make_model()
    batched = generate(model, MIXED, 10, temperature=0, stop_ids=())
    for row, prompt in enumerate(MIXED):
        alone = generate(model, [prompt], 10, temperature=0, stop_ids=())
        assert alone.generated[0] == batched.generated[row]
    assert batched.tokens.shape == (3, 11 + 10)
    assert batched.tokens[0, :6].tolist() == [PAD_ID] * 6  # left padding up to the longest prompt
    assert batched.prompt_lengths == [5, 11, 2]


def test_respects_max_new_tokens():
    result = generate(make_model(), MIXED, 7, temperature=1.0, stop_ids=(), seed=0)
    assert [len(ids) for ids in result.generated] == [7, 7, 7]
    assert result.lengths.tolist() == [7, 7, 7]
    assert not result.finished.any()


def test_a_stop_token_finishes_only_its_sequence():
    model = make_model()
    free = generate(model, MIXED, 12, temperature=0, stop_ids=())
    stop = free.generated[0][3]
    stopped = generate(model, MIXED, 12, temperature=0, stop_ids=(stop,))
    for row, ids in enumerate(free.generated):
        end = ids.index(stop) + 1 if stop in ids else len(ids)
        assert stopped.generated[row] == ids[:end]  # the rest of the batch runs on unchanged
        assert bool(stopped.finished[row]) == (stop in ids)
        assert stopped.tokens[row, 11 + end :].eq(PAD_ID).all()
    assert stopped.finished[0] and stopped.lengths[0] <= 4


def test_eos_stops_by_default():
    model = make_model()
    eos_first = torch.zeros(NANO.vocab_size)
    eos_first[EOS_ID] = 100.0
    model.head.register_forward_hook(lambda module, inputs, logits: logits + eos_first)
    result = generate(model, MIXED, 5, seed=0)
    assert result.generated == [[EOS_ID]] * 3
    assert result.finished.all()


def test_same_seed_same_samples_other_seed_other_samples():
    model = make_model()
    first = generate(model, MIXED, 16, seed=1, stop_ids=())
    again = generate(model, MIXED, 16, seed=1, stop_ids=())
    other = generate(model, MIXED, 16, seed=2, stop_ids=())
    assert first.generated == again.generated
    assert first.generated != other.generated


@pytest.mark.parametrize("knob", [{"top_k": 1}, {"top_p": 1e-6}])
def test_top_k_one_and_tiny_top_p_are_greedy(knob):
    model = make_model()
    greedy = generate(model, MIXED, 10, temperature=0, stop_ids=())
    sampled = generate(model, MIXED, 10, temperature=1.5, seed=3, stop_ids=(), **knob)
    assert sampled.generated == greedy.generated


def test_filter_logits_keeps_the_top_k_and_the_nucleus():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
    probs = logits.softmax(-1)[0]  # 0.644, 0.237, 0.087, 0.032
    kept = filter_logits(logits, top_k=2).isfinite()[0].tolist()
    assert kept == [True, True, False, False]
    nucleus = float(probs[0] + probs[1]) - 1e-3  # reached by the first two tokens
    kept = filter_logits(logits, top_p=nucleus).isfinite()[0].tolist()
    assert kept == [True, True, False, False]
    assert filter_logits(logits, top_p=float(probs[0]) + 1e-3).isfinite()[0].tolist() == kept


@pytest.mark.parametrize(
    ("lengths", "new", "message"),
    [
        ((120, 3), 10, "120 + 10 = 130 exceeds the context, max_seq_len=128"),
        ((130,), 1, "131 exceeds the context, max_seq_len=128"),
    ],
)
def test_too_long_for_the_context_is_named(lengths, new, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        generate(make_model(), prompts(*lengths), new)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": -1.0}, "temperature=-1.0 must be at least 0"),
        ({"temperature": float("nan")}, "temperature=nan must be a finite number"),
        ({"temperature": "hot"}, "temperature='hot' must be a number, not a str"),
        ({"top_k": 2.5}, "top_k=2.5 must be an integer, not a float"),
        ({"top_p": float("nan")}, "top_p=nan must be a finite number"),
        ({"max_new_tokens": 4.0}, "max_new_tokens=4.0 must be an integer, not a float"),
        ({"seed": 1.5}, "seed=1.5 must be an integer"),
        ({"top_k": 0}, "top_k=0 must be at least 1"),
        ({"top_p": 0.0}, r"top_p=0.0 must lie in \(0, 1\]"),
        ({"max_new_tokens": 0}, "max_new_tokens=0 must be at least 1"),
        ({"vocab_limit": 65}, "vocab_limit=65 must lie in 1..vocab_size=64"),
    ],
)
def test_bad_sampling_arguments_are_named(kwargs, message):
    kwargs = {"max_new_tokens": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(make_model(), MIXED, **kwargs)


@pytest.mark.parametrize(
    ("prompts_", "message"),
    [
        ([], "prompts must be a non-empty list of token-id lists"),
        (torch.tensor([]), "prompts must be a non-empty list of token-id lists; got Tensor"),
        ([[1, 2], []], "prompts[1] must be a non-empty list of token ids"),
        (["compute 1+2"], "prompts[0] is text; generate takes token ids (encode_prompt(text))"),
        ([[1, 2.5]], "prompts[0] must hold integer ids in [0, vocab_size=64)"),
        ([[1, 64]], "prompts[0] must hold integer ids in [0, vocab_size=64)"),
        ([[1, -1]], "prompts[0] must hold integer ids in [0, vocab_size=64)"),
    ],
)
def test_bad_prompts_are_named(prompts_, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        generate(make_model(), prompts_, 4)
    assert generate(make_model(), [torch.tensor([1, 2])], 2).lengths.tolist() == [2]  # a tensor row is fine


def test_streaming_sees_every_token_in_order():
    model = make_model()
    seen = []
    result = generate(
        model,
        MIXED,
        12,
        temperature=0,
        stop_ids=(prompts(1, seed=9)[0][0],),
        on_token=lambda step, tokens, finished: seen.append((step, tokens, finished)),
    )
    steps = [step for step, _, _ in seen]
    assert steps == list(range(len(seen)))
    streamed = torch.stack([tokens for _, tokens, _ in seen], dim=1)  # [B, steps]
    assert torch.equal(streamed, result.tokens[:, 11 : 11 + len(seen)])
    assert torch.equal(seen[-1][2], result.finished)


def test_generation_restores_the_mode_and_leaves_a_trainable_model():
    model = make_model().train()
    generate(model, MIXED, 4, seed=0)
    assert model.training
    logits = model(torch.tensor(prompts(6, 6)))  # same batch as the cache left behind
    logits.sum().backward()


def test_text_stream_splits_thinking_from_answer():
    pieces = []
    on_token = text_stream(lambda row, piece, part: pieces.append((row, piece, part)))
    ids = [*encode("ab</think><answer>7</answer>"), EOS_ID]
    for step, token in enumerate(ids):
        on_token(step, torch.tensor([token, PAD_ID]), torch.tensor([token == EOS_ID, True]))
    assert pieces[0] == (0, "<think>\n", "thinking")  # the r1-chat prefill
    assert pieces[1] == (1, "<think>\n", "thinking")
    assert all(row == 0 for row, _, _ in pieces[2:])  # row 1 only ever padded
    text = {
        part: "".join(piece for row, piece, of in pieces if row == 0 and of == part)
        for part in ("thinking", "answer")
    }
    assert text == {"thinking": "<think>\nab</think>", "answer": "<answer>7</answer>"}


def test_stream_print_shows_one_row(capsys):
    on_token = stream_print(row=1)
    on_token(0, torch.tensor([TOKEN_TO_ID["a"], TOKEN_TO_ID["b"]]), torch.tensor([False, False]))
    assert capsys.readouterr().out == "\033[2m<think>\n\033[0m\033[2mb\033[0m"


def test_generate_text_and_evaluate_model_on_tasks():
    model = make_model(vocab_size=128)  # the character vocabulary has 88 ids
    tasks = generate_tasks("arithmetic", 3, seed=0, split="test")
    texts = generate_text(model, [task.prompt for task in tasks], 8, seed=0)
    assert len(texts) == 3 and all(text.startswith("<think>\n") for text in texts)
    rows = evaluate_model(model, tasks, k=3, max_new_tokens=8, batch_size=4, progress=False)
    assert [row["prompt"] for row in rows] == [task.prompt for task in tasks]
    for row in rows:
        assert row["n"] == 3
        for key in ("pass@1", "pass@k", "cons@n", "reasoning_share", "format_share"):
            assert 0.0 <= row[key] <= 1.0
        assert 0 < row["mean_length"] <= 2 + 8  # the prefill's two tokens plus the samples
    again = evaluate_model(model, tasks, k=3, max_new_tokens=8, batch_size=4, progress=False)
    assert again == rows


@pytest.mark.parametrize("attn_impl", ["absorb", "naive"])
def test_measured_cache_bytes_match_the_accounting(attn_impl):
    model = make_model(attn_impl)
    generate(model, MIXED, 6, temperature=0, stop_ids=())
    expected = kv_cache_bytes_per_token(model.config, bytes_per_element=4)
    name = {"absorb": "absorbed_mla", "naive": "naive_mla"}[attn_impl]
    assert cache_bytes_per_token(model, len(MIXED)) == expected[name]


def test_the_generate_benchmark_runs(capsys):
    bench(["generate", "--preset", "nano", "--batches", "2", "--prompt", "4", "--new", "3"])
    table = capsys.readouterr().out.splitlines()
    assert table[1].split()[:3] == ["attn", "batch", "cached"]
    assert [line.split()[:2] for line in table[3:]] == [["naive", "2"], ["absorb", "2"], ["auto", "2"]]


def test_each_group_of_rows_draws_from_its_own_generator_in_row_order():
    torch.manual_seed(0)
    logits = torch.randn(7, 11)  # [B, V]
    groups = torch.tensor([2, 0, 2, 1, 0, 2, 0])  # interleaved, as rows of a batch can be
    seeds = (5, 6, 7)
    drawn = _sample(logits, groups, [torch.Generator().manual_seed(s) for s in seeds], 1.3, None, 0.9)
    for group, seed in enumerate(seeds):
        rows = (groups == group).nonzero()[:, 0]  # this group's rows, in order
        alone = sample_next(logits[rows], 1.3, None, 0.9, torch.Generator().manual_seed(seed))
        assert drawn[rows].tolist() == alone.tolist()
