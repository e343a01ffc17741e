"""Training data and schedule: the response-only mask on a hand-checked example, direct answers,
batches reproducible from (seed, step), and the warmup + cosine learning rate."""

import itertools
import math

import pytest
import torch

from r1mini.reasoning import PAD_ID, decode, encode, encode_prompt, generate_tasks
from r1mini.reasoning.template import parse_response
from r1mini.training import TaskBatches, encode_batch, learning_rate, sample_tasks


def test_response_only_mask_hand_checked():
    task = generate_tasks("arithmetic", 1, seed=3)[0]
    short = generate_tasks("arithmetic", 1, seed=4, difficulty=1)[0]
    batch = encode_batch([task, short], loss_on="response", template="r1-chat")
    prompt = encode_prompt(task.prompt, "r1-chat")  # <bos><|User|>compute ..<|Assistant|><think>\n
    response = f"{task.thinking}\n</think>\n<answer>{task.answer}</answer><eos>"
    ids = prompt + encode(response)
    assert batch.tokens[0, : len(ids)].tolist() == ids
    assert batch.weights[0, : len(prompt)].sum() == 0  # every prompt token has zero loss weight
    assert batch.weights[0, len(prompt) : len(ids)].tolist() == [1.0] * len(encode(response))
    assert decode(batch.tokens[0][batch.weights[0] == 1].tolist()) == response
    n_short = int((batch.tokens[1] != PAD_ID).sum())
    assert batch.tokens[1, n_short:].eq(PAD_ID).all() and batch.weights[1, n_short:].eq(0).all()
    assert batch.tokens.shape[1] == max(len(ids), n_short)


def test_pretraining_weights_every_token_but_bos():
    tasks = generate_tasks("lists", 3, seed=1)
    batch = encode_batch(tasks, loss_on="all")
    real = batch.tokens != PAD_ID
    assert batch.weights[:, 0].eq(0).all()
    assert torch.equal(batch.weights[:, 1:].bool(), real[:, 1:])
    assert batch.n_tokens == int(real.sum())


def test_reasoning_share_zero_answers_directly():
    tasks = generate_tasks("arithmetic", 8, seed=0)
    direct = encode_batch(tasks, reasoning_share=0.0)
    for row, task in enumerate(tasks):
        text = decode(direct.tokens[row][direct.tokens[row] != PAD_ID].tolist())
        parsed = parse_response(text.split("<|Assistant|>")[1])
        assert parsed.thinking == "" and parsed.answer == task.answer
    shown = encode_batch(generate_tasks("arithmetic", 200, seed=0), reasoning_share=0.3, seed=5)
    texts = [decode([t for t in row.tolist() if t != PAD_ID]) for row in shown.tokens]
    n_reasoning = sum(bool(parse_response(text).thinking) for text in texts)
    assert 40 <= n_reasoning <= 80  # ~30% of 200


def test_batches_are_a_function_of_seed_and_step():
    batches = TaskBatches(kinds=("arithmetic", "countdown"), batch_size=6, seed=7, reasoning_share=0.5)
    again = TaskBatches(kinds=("arithmetic", "countdown"), batch_size=6, seed=7, reasoning_share=0.5)
    assert torch.equal(batches(12).tokens, again(12).tokens)
    assert not torch.equal(batches(12).tokens[:, :20], batches(13).tokens[:, :20])
    kinds = {task.kind for step in range(5) for task in sample_tasks(("arithmetic", "countdown"), 6, 7, step)}
    assert kinds == {"arithmetic", "countdown"}
    assert all(task.split == "train" for task in sample_tasks(("lists",), 20, 0, 0))


def test_bad_arguments_name_the_rule():
    with pytest.raises(ValueError, match="loss_on='prompt'"):
        encode_batch(generate_tasks("arithmetic", 1), loss_on="prompt")
    with pytest.raises(ValueError, match=r"reasoning_share=1\.5"):
        encode_batch(generate_tasks("arithmetic", 1), reasoning_share=1.5)
    with pytest.raises(ValueError, match="kinds="):
        sample_tasks(("poetry",), 2, 0, 0)


def test_warmup_then_cosine():
    peak, warmup, total = 1e-3, 4, 14
    rates = [learning_rate(step, peak, warmup, total, final=0.1) for step in range(total)]
    assert rates[:4] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])  # linear warmup
    assert rates[4] == pytest.approx(peak)  # cosine starts at the peak ...
    assert rates[-1] == pytest.approx(0.1 * peak)  # ... and ends at final · peak
    middle = 4 + 9 / 2  # halfway through the decay: (final + 1) / 2 of the peak
    assert learning_rate(int(middle), peak, warmup, total) == pytest.approx(
        peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (int(middle) - 4) / 9)))
    )
    assert all(a >= b for a, b in itertools.pairwise(rates[4:]))
    assert [learning_rate(s, peak, 0, 5, final=1.0) for s in range(5)] == [peak] * 5
    assert learning_rate(1, peak, 10, 3) == pytest.approx(2e-4)  # shorter than its warmup
    with pytest.raises(ValueError, match="warmup=-1"):
        learning_rate(0, peak, -1, 5)
