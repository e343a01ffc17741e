"""The character tokenizer and the conversation templates."""

import pytest

from r1mini.reasoning.dataset import KINDS, generate_tasks
from r1mini.reasoning.template import (
    TEMPLATES,
    decode_response,
    encode_example,
    encode_prompt,
    parse_response,
    render_completion,
    render_example,
    render_prompt,
)
from r1mini.reasoning.tokenizer import (
    BOS_ID,
    CHARACTERS,
    EOS_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    TOKEN_TO_ID,
    VOCAB,
    VOCAB_SIZE,
    decode,
    encode,
    split_tokens,
)

PAPER_TABLE_1 = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process "
    "here </think> <answer> answer here </answer>. User: prompt. Assistant:"
)


def test_vocabulary_is_small_unique_and_starts_with_the_special_tokens() -> None:
    assert VOCAB_SIZE == len(VOCAB) == len(set(VOCAB)) <= 128
    assert (len(SPECIAL_TOKENS), len(CHARACTERS)) == (9, 79)  # as the module docstring says
    assert VOCAB[: len(SPECIAL_TOKENS)] == SPECIAL_TOKENS
    assert (PAD_ID, BOS_ID, EOS_ID) == (0, 1, 2)
    assert not set("<>|") & set(VOCAB), "tag characters would let a tag be spelled out"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("template", list(TEMPLATES))
def test_every_example_round_trips(kind: str, template: str) -> None:
    for seed in range(3):
        for task in generate_tasks(kind, 30, seed=seed, split="train" if seed else "test"):
            text = render_example(task, template)
            ids, n_prompt = encode_example(task, template)
            assert decode(ids) == text
            assert ids[:n_prompt] == encode_prompt(task.prompt, template)
            assert ids[0] == BOS_ID and ids[-1] == EOS_ID
            assert decode_response(ids[n_prompt:], template) == render_completion(task.thinking, task.answer)


def test_tags_are_single_tokens() -> None:
    ids = encode("<think>\n1+1=2 c0\n</think>\n<answer>2</answer>")
    assert ids[0] == TOKEN_TO_ID["<think>"]
    assert TOKEN_TO_ID["</answer>"] == ids[-1]
    assert split_tokens("a<|User|>b") == ["a", "<|User|>", "b"]


def test_unknown_character_names_character_and_position() -> None:
    with pytest.raises(ValueError, match=r"character '€' at position 7"):
        encode("<think>€")
    with pytest.raises(ValueError, match=r"character '<' at position 2"):
        encode("1 <b> 2")


def test_decode_rejects_ids_outside_the_vocabulary() -> None:
    with pytest.raises(ValueError, match=rf"ids\[1\] = {VOCAB_SIZE} is outside"):
        decode([BOS_ID, VOCAB_SIZE])


def test_r1_zero_template_is_the_paper_text() -> None:
    assert render_prompt("prompt", "r1-zero") == "<bos>" + PAPER_TABLE_1
    assert len(encode_prompt("", "r1-zero")) == 363  # the figure quoted in template.py


def test_templates_take_the_task_by_name() -> None:
    chat = render_prompt("compute 1+2", "r1-chat")
    assert chat == "<bos><|User|>compute 1+2<|Assistant|><think>\n"
    assert render_prompt("compute 1+2", "r1-zero-short").endswith("User: compute 1+2. Assistant:")
    with pytest.raises(ValueError, match=r"template='r2' is not a template; choose from"):
        encode_prompt("compute 1+2", template="r2")


def test_decode_response_stops_at_eos_and_restores_the_prefill() -> None:
    generated = [*encode("7\n</think>\n<answer>7</answer>"), EOS_ID, *encode("junk"), PAD_ID]
    assert decode_response(generated, "r1-chat") == "<think>\n7\n</think>\n<answer>7</answer>"
    assert decode_response([*encode("<think>"), PAD_ID, EOS_ID], "r1-zero-short") == "<think>"


def test_parse_response_reads_single_blocks_only() -> None:
    parsed = parse_response("<think>\n a b \n</think>\n<answer> 42 </answer>")
    assert (parsed.thinking, parsed.answer) == ("a b", "42")
    assert parse_response("<answer>1</answer><answer>2</answer>").answer is None
    assert parse_response("</answer>1<answer>").answer is None
    assert parse_response("no tags").thinking is None
