"""Token roles of an arithmetic conversation and the probes of chapters 02-03, against hand-labelled
conversations and hand-computed information values."""

from __future__ import annotations

import math

import pytest
import torch

from r1mini import ModelConfig, Transformer
from r1mini.reasoning.probes import (
    COLUMN_LOOKS,
    attention_mass,
    column_attention,
    conditional_mutual_information,
    conversation_roles,
    expert_purity,
    mutual_information,
    role_expert_counts,
    route_conversations,
    routing_specialisation,
    shuffle_within,
    uniform_mass,
)
from r1mini.reasoning.token_roles import (
    CARRY,
    NEWLINE,
    OPERATOR,
    SPACE,
    TAG,
    TEXT,
    UNPLACED,
    conversation_tokens,
    digit_role,
    in_column_layout,
    role_order,
    token_roles,
    trace_columns,
)

ADDITION = (
    "compute 8894+625",
    "<think>\n4+5=9 c0\n9+2=11 c1\n8+6+1=15 c1\n8+0+1=9 c0\n</think>\n<answer>9519</answer>",
)
SUBTRACTION = (
    "compute 9852-78",
    "<think>\n12-8=4 b1\n15-7-1=7 b1\n8-0-1=7 b0\n9-0=9 b0\n</think>\n<answer>9774</answer>",
)


def labelled(prompt: str, response: str) -> dict[str, list[str]]:
    tokens = conversation_tokens(prompt, response)
    roles = token_roles(tokens)
    by_role: dict[str, list[str]] = {}
    for token, role in zip(tokens, roles, strict=True):
        by_role.setdefault(role, []).append(token)
    return by_role


def test_token_roles_of_an_addition_by_hand():
    tokens = conversation_tokens(*ADDITION)
    assert tokens[:3] == ["<bos>", "<|User|>", "c"]
    roles = labelled(*ADDITION)
    # column 0 (units): 4 in 8894, 5 in 625, the first line's 4 and 5 and its result 9, the answer's 9
    assert roles[digit_role(0)] == ["4", "5", "4", "5", "9", "9"]
    # column 2: 8 and 6 in the question, "8+6+1=15" (1 is the carry, 15 the result), the answer's 5
    assert roles[digit_role(2)] == ["8", "6", "8", "6", "1", "5", "5"]
    assert roles[digit_role(3)] == ["8", "8", "0", "9", "9"]  # 625 has no thousands digit
    assert roles[CARRY] == ["c", "0", "c", "1", "1", "c", "1", "1", "c", "0"]
    assert roles[OPERATOR] == ["+"] + ["+", "="] * 2 + ["+", "+", "="] * 2
    assert roles[TAG] == ["<think>", "</think>", "<answer>", "</answer>"]
    assert roles[NEWLINE] == ["\n"] * 6
    assert roles[SPACE] == [" "] * 5
    assert "".join(roles[TEXT]) == "<bos><|User|>compute<|Assistant|>"
    assert UNPLACED not in roles


def test_token_roles_of_a_subtraction_mark_the_borrowed_ten():
    roles = labelled(*SUBTRACTION)
    # "12-8=4 b1": the 1 of 12 is the ten borrowed from column 1, a borrow mark
    assert roles[digit_role(0)] == ["2", "8", "2", "8", "4", "4"]
    assert roles[CARRY][:3] == ["1", "b", "1"]
    assert roles[digit_role(1)] == ["5", "7", "5", "7", "7", "7"]  # "15-7-1=7": 1 of 15 borrowed, -1 carried


def test_malformed_lines_leave_their_digits_unplaced():
    broken = "<think>\n4+5=9 c0\n9 plus 2\n8+6+1=15 c1\n</think>\n<answer>9519</answer>"
    tokens = conversation_tokens("compute 8894+625", broken)
    roles = token_roles(tokens)
    assert roles.count(UNPLACED) == 2 + 6  # "9 plus 2" and the line after it, out of step
    assert len(trace_columns(tokens)) == 1
    direct = conversation_tokens("compute 8894+625", "<think>\n\n</think>\n<answer>9519</answer>")
    assert trace_columns(direct) == []


def test_trace_columns_positions_by_hand():
    tokens = conversation_tokens(*ADDITION)
    columns = trace_columns(tokens)
    assert [c.index for c in columns] == [0, 1, 2, 3]
    third = columns[2]  # "8+6+1=15 c1", after "9+2=11 c1"

    def at(positions):
        return [tokens[i] for i in positions]

    assert at(third.question) == ["8", "6"] and third.question == (11, 15)
    assert at(third.line) == ["8", "6", "1"]  # top, bottom, carried in
    assert at(third.carry_in) == ["c", "1"] and third.carry_in == (37, 38)
    assert tokens[third.start] == "\n" and tokens[third.start + 1] == "8"
    assert tokens[third.bottom] == "6" and tokens[third.bottom + 1] == "+"
    assert tokens[third.equals] == "=" and tokens[third.equals + 1] == "1"
    assert columns[0].carry_in == () and at(columns[3].question) == ["8"]


def test_role_order_puts_digit_columns_first():
    assert role_order(["mine", TEXT, digit_role(10), OPERATOR, digit_role(2)]) == [
        digit_role(2),
        digit_role(10),
        OPERATOR,
        TEXT,
        "mine",
    ]


def test_conversation_tokens_needs_the_prefill():
    with pytest.raises(ValueError, match="prefill"):
        conversation_tokens("compute 1+2", "<answer>3</answer>")


def test_mutual_information_by_hand():
    assert mutual_information("aabb", "xxyy") == pytest.approx(1.0)  # Y = X, 1 bit
    assert mutual_information("abab", "xxyy") == pytest.approx(0.0)  # independent
    # p(a,x)=1/2, p(b,x)=1/4, p(b,y)=1/4: I = 1/2 log2(2/(3/4·... )) summed by hand
    x, y = "aabb", "xxxy"
    expected = (
        0.5 * math.log2(0.5 / (0.5 * 0.75))
        + 0.25 * math.log2(0.25 / (0.5 * 0.75))
        + 0.25 * math.log2(0.25 / (0.5 * 0.25))
    )
    assert mutual_information(x, y) == pytest.approx(expected)
    with pytest.raises(ValueError, match="one y per x"):
        mutual_information("ab", "x")


def test_conditional_mutual_information_by_hand():
    # within z=0, X = Y (1 bit); within z=1, independent (0 bits); half the samples each
    x, y, z = "abab" + "aabb", "xyxy" + "xyxy", "0000" + "1111"
    assert conditional_mutual_information(x, y, z) == pytest.approx(0.5)
    assert conditional_mutual_information(x, y, "0" * 8) == pytest.approx(mutual_information(x, y))


def test_shuffle_within_keeps_each_groups_values():
    values = list("abcdefgh")
    groups = [0, 1, 0, 1, 0, 1, 0, 1]
    out = shuffle_within(values, groups, seed=3)
    assert sorted(out[0::2]) == ["a", "c", "e", "g"] and sorted(out[1::2]) == ["b", "d", "f", "h"]
    assert out == shuffle_within(values, groups, seed=3) != values


def test_routing_specialisation_separates_character_from_role():
    characters = list("77777777")
    roles = ["units", "tens"] * 4
    by_role = torch.tensor([[0], [1]] * 4)  # [N, k=1]: the expert follows the role
    s = routing_specialisation(roles, characters, by_role)
    assert s["role"] == pytest.approx(1.0) and s["character"] == pytest.approx(0.0)
    assert s["role_given_character"] == pytest.approx(1.0)
    mixed = list("7a7a7a7a")
    by_character = torch.tensor([[0], [1]] * 4)  # the expert follows the character
    s = routing_specialisation(["digit", "text"] * 4, mixed, by_character)
    assert s["character"] == pytest.approx(1.0) and s["role_given_character"] == pytest.approx(0.0)
    assert s["chance"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match=r"\[N, k\]"):
        routing_specialisation(roles, characters, torch.zeros(3, 2, dtype=torch.long))


def test_role_expert_counts_and_purity_by_hand():
    digit = digit_role(0)
    roles = [digit, digit, OPERATOR]
    ids = torch.tensor([[0, 1], [0, 2], [2, 1]])  # [N=3, k=2]
    order, counts = role_expert_counts(roles, ids, n_experts=4)
    assert order == [digit, OPERATOR]
    table = {(r, e): counts[order.index(r), e].item() for r in order for e in range(4)}
    assert table[(digit, 0)] == 2 and table[(digit, 1)] == 1 and table[(digit, 2)] == 1
    assert table[(OPERATOR, 1)] == 1 and table[(OPERATOR, 2)] == 1
    assert counts.sum() == 6
    purity = expert_purity(counts)
    assert purity[0] == 1.0 and purity[1] == 0.5 and purity[2] == 0.5 and purity[3].isnan()


def test_attention_mass_and_uniform_mass_by_hand():
    probs = torch.zeros(2, 4, 4)  # [H, T, S]
    probs[0, 3] = torch.tensor([0.1, 0.2, 0.3, 0.4])
    probs[1, 3] = 0.25
    probs[0, 2, :3] = torch.tensor([0.5, 0.5, 0.0])
    probs[1, 2, :3] = 1 / 3
    mass = attention_mass(probs, [3, 2], [[0, 2], [1]])
    assert mass.tolist() == pytest.approx([(0.4 + 0.5) / 2, (0.5 + 1 / 3) / 2])
    assert uniform_mass([3, 2], [[0, 2], [1]]) == pytest.approx((2 / 4 + 1 / 3) / 2)
    with pytest.raises(ValueError, match="one non-empty key set"):
        attention_mass(probs, [3], [])


@pytest.fixture(scope="module")
def conversations():
    return [conversation_tokens(*ADDITION), conversation_tokens(*SUBTRACTION)]


def test_routing_and_attention_of_a_model_over_conversations(conversations):
    torch.manual_seed(0)
    model = Transformer(ModelConfig.preset("nano", vocab_size=128)).eval()
    routed = route_conversations(model, conversations)
    n = sum(map(len, conversations))
    assert list(routed) == [1] and routed[1].shape == (n, 2)  # nano: 1 dense + 1 MoE block
    roles, characters = conversation_roles(conversations)
    assert len(roles) == len(characters) == n
    looks = column_attention(model, conversations)
    assert set(looks) == set(COLUMN_LOOKS)
    assert looks["line start → the column's digits in the question"]["n"] == 8
    assert looks["bottom digit → the previous line's carry (c1, b0)"]["n"] == 6
    for look in looks.values():
        assert look["mass"].shape == (2, 2)  # [layers, heads]
        # random weights attend almost evenly: the mass is about what even attention gives
        assert look["mass"].sub(look["uniform"]).abs().max() < 0.03


def test_in_column_layout_checks_the_form_not_the_digits():
    prompt, response = ADDITION
    assert in_column_layout(prompt, response)
    wrong_digits = response.replace("4+5=9 c0", "4+5=8 c0")  # a slip: still the layout
    assert in_column_layout(prompt, wrong_digits)
    assert not in_column_layout(prompt, response.replace("9+2=11 c1", "9 plus 2"))
    assert not in_column_layout(prompt, "<think>\n\n</think>\n<answer>9519</answer>")
    assert not in_column_layout(prompt, "<think>\n1=1=1\n</think>\n<answer>1</answer>")
