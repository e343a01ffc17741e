"""Probes of a model reading its own reasoning: where each kind of token is routed, and what the
tokens that work out a column attend to.

Chapters 02 and 03 run the trained miniature (and an untrained copy, for contrast) over its own
`<think>` traces and measure two things the V3 paper describes in general terms:

* Expert specialisation (V3 §2.1.2 motivates fine-grained experts by "higher expert specialization",
  and §4.5.2 looks at which experts the tokens of each domain use). `routing_specialisation`
  measures it as mutual information, in bits, between a token's role (`token_roles`) and the
  experts it is routed to: overall, `I(role; expert)`; the part a router gets from the character
  alone, `I(character; expert)`; and what it knows of the role *beyond* the character,
  `I(role; expert | character)`, the part that needs context (a `7` that is a units digit, or a
  carry). The last is compared with its value when roles are shuffled among the tokens of each
  character (`chance`), which keeps every count but breaks any link between role and expert.
  `role_expert_counts` and `expert_purity` (the share of an expert's tokens that have its most
  common role) give the same picture expert by expert.
* Attention to the digits of a column (V3 §2.1.1 is the mechanism; what a trained model does with it
  is measured here): `attention_mass` is the probability mass a set of query tokens puts on their
  key tokens, per head, and `uniform_mass` what attention spread evenly over the causal prefix
  would put there. `column_attention` runs both over every column of every trace.

All information is in bits, estimated from counts ("plug-in" estimates, biased upwards by
about (cells − 1) / (2 N ln 2) bits; the shuffled baseline carries the same bias).
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence

import torch

from r1mini.model import Transformer
from r1mini.reasoning.token_roles import Column, role_order, token_roles, trace_columns
from r1mini.reasoning.tokenizer import encode


def mutual_information(x: Sequence[Hashable], y: Sequence[Hashable]) -> float:
    """`I(X; Y)` in bits from paired samples: Σ p(x, y) log2 p(x, y) / (p(x) p(y))."""
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples and y {len(y)}; give one y per x")
    if not x:
        raise ValueError("x is empty; mutual information needs samples")
    n = len(x)
    joint, px, py = Counter(zip(x, y, strict=True)), Counter(x), Counter(y)
    return sum(c / n * math.log2(c * n / (px[a] * py[b])) for (a, b), c in joint.items())


def conditional_mutual_information(
    x: Sequence[Hashable], y: Sequence[Hashable], given: Sequence[Hashable]
) -> float:
    """`I(X; Y | Z)` in bits: the mutual information within each value of Z, weighted by p(z)."""
    if not len(x) == len(y) == len(given):
        raise ValueError(f"x, y and given have {len(x)}, {len(y)}, {len(given)} samples; give one of each")
    groups: dict[Hashable, list[tuple[Hashable, Hashable]]] = defaultdict(list)
    for a, b, z in zip(x, y, given, strict=True):
        groups[z].append((a, b))
    return sum(
        len(pairs) / len(x) * mutual_information([a for a, _ in pairs], [b for _, b in pairs])
        for pairs in groups.values()
    )


def shuffle_within(values: Sequence[Hashable], groups: Sequence[Hashable], seed: int = 0) -> list[Hashable]:
    """`values` permuted at random among the positions of each group (same counts per group)."""
    if len(values) != len(groups):
        raise ValueError(f"values has {len(values)} items and groups {len(groups)}; give one group per value")
    rng = random.Random(seed)
    positions: dict[Hashable, list[int]] = defaultdict(list)
    for i, group in enumerate(groups):
        positions[group].append(i)
    out = list(values)
    for members in positions.values():
        drawn = [values[i] for i in members]
        rng.shuffle(drawn)
        for i, value in zip(members, drawn, strict=True):
            out[i] = value
    return out


def route_conversations(
    model: Transformer, conversations: Sequence[Sequence[str]]
) -> dict[int, torch.Tensor]:
    """The experts each token of each conversation (token strings) is routed to, per MoE layer:
    layer index -> [N, k] expert ids, N = all tokens of all conversations in order."""
    ids: dict[int, list[torch.Tensor]] = defaultdict(list)
    with torch.no_grad(), model.recording() as records:
        for tokens in conversations:
            model(torch.tensor([encode("".join(tokens))], device=model.device))  # [1, T]
    for layer, record in enumerate(records):
        for routing in record["routing"]:  # one per forward
            ids[layer].append(routing["ids"][0].cpu())  # [T, k]
    return {layer: torch.cat(chunks) for layer, chunks in ids.items()}


def routing_specialisation(
    roles: Sequence[str], characters: Sequence[str], expert_ids: torch.Tensor, seed: int = 0
) -> dict[str, float]:
    """How much a layer's routing says about each token's role, in bits (see the module docstring).

    roles, characters: one per token; expert_ids: [N, k], each token's chosen experts (each of the k
    choices counts as one sample). Returns `role`, `character`, `role_given_character` and `chance`
    (the last with roles shuffled among the tokens of each character, seeded by `seed`).
    """
    if expert_ids.dim() != 2 or expert_ids.shape[0] != len(roles) or len(roles) != len(characters):
        raise ValueError(
            f"expert_ids is {list(expert_ids.shape)} for {len(roles)} roles and {len(characters)} "
            "characters; give [N, k] ids and one role and character per token"
        )
    k = expert_ids.shape[1]
    experts = expert_ids.flatten().tolist()  # token t's choices at t*k .. t*k+k-1

    def repeat(values: Sequence[Hashable]) -> list[Hashable]:
        return [v for v in values for _ in range(k)]

    role, character = repeat(roles), repeat(characters)
    shuffled = repeat(shuffle_within(roles, characters, seed))
    return {
        "role": mutual_information(role, experts),
        "character": mutual_information(character, experts),
        "role_given_character": conditional_mutual_information(role, experts, character),
        "chance": conditional_mutual_information(shuffled, experts, character),
    }


def role_expert_counts(
    roles: Sequence[str], expert_ids: torch.Tensor, n_experts: int, order: Sequence[str] | None = None
) -> tuple[list[str], torch.Tensor]:
    """How often each role is routed to each expert: (the roles in `order`, default `role_order`,
    and counts [R, E]). expert_ids: [N, k] for the N tokens whose `roles` are given."""
    order = list(order or role_order(roles))
    counts = torch.zeros(len(order), n_experts)  # [R, E]
    rows = torch.tensor([order.index(r) for r in roles])  # [N]
    for choice in expert_ids.T:  # [N]: every token's j-th choice
        counts.index_put_((rows, choice.cpu()), torch.ones(len(rows)), accumulate=True)
    return order, counts


def expert_purity(counts: torch.Tensor) -> torch.Tensor:
    """[E]: the share of each expert's tokens that have its most common role (counts: [R, E]);
    NaN for an expert that received no token."""
    totals = counts.sum(0)  # [E]
    return counts.max(0).values / totals.where(totals > 0, torch.nan)


def attention_mass(
    probs: torch.Tensor, queries: Sequence[int], keys: Sequence[Sequence[int]]
) -> torch.Tensor:
    """[H]: the mean over `queries` of the attention probability each puts on its `keys`.

    probs: one layer's attention [H, T, S] (or [1, H, T, S]); keys[i]: the key positions of query i.
    """
    if probs.dim() == 4:
        probs = probs[0]
    if len(queries) != len(keys) or not queries:
        raise ValueError(
            f"{len(queries)} queries and {len(keys)} key sets: give one non-empty key set per query"
        )
    masses = [probs[:, q, list(ks)].sum(-1) for q, ks in zip(queries, keys, strict=True)]  # each [H]
    return torch.stack(masses).mean(0)


def uniform_mass(queries: Sequence[int], keys: Sequence[Sequence[int]]) -> float:
    """What `attention_mass` would be if every query attended evenly to itself and all before it."""
    return sum(len(ks) / (q + 1) for q, ks in zip(queries, keys, strict=True)) / len(queries)


# (query, keys) of a column: what `column_attention` measures
COLUMN_LOOKS: dict[str, tuple[str, str]] = {
    "line start → the column's digits in the question": ("start", "question"),
    "bottom digit → the previous line's carry (c1, b0)": ("bottom", "carry_in"),
    "= → the column's digits on its line": ("equals", "line"),
}


def column_attention(model: Transformer, conversations: Sequence[Sequence[str]]) -> dict[str, dict]:
    """For each look of `COLUMN_LOOKS`, over every column of every conversation: `mass` [L, H]
    (`attention_mass` per layer and head), `uniform` (`uniform_mass`) and `n` (columns measured)."""
    per_look: dict[str, list[tuple[torch.Tensor, float]]] = defaultdict(list)
    for tokens in conversations:
        columns: list[Column] = trace_columns(tokens)
        with torch.no_grad(), model.recording() as records:
            model(torch.tensor([encode("".join(tokens))], device=model.device))  # [1, T]
        probs = torch.stack([record["attention"][0][0].cpu() for record in records])  # [L, H, T, S]
        for look, (query, key) in COLUMN_LOOKS.items():
            chosen = [c for c in columns if getattr(c, key)]
            if not chosen:
                continue
            queries = [getattr(c, query) for c in chosen]
            keys = [getattr(c, key) for c in chosen]
            mass = torch.stack([attention_mass(p, queries, keys) for p in probs])  # [L, H]
            per_look[look].extend([(mass, uniform_mass(queries, keys))] * len(chosen))
    return {
        look: {
            "mass": torch.stack([m for m, _ in rows]).mean(0),
            "uniform": sum(u for _, u in rows) / len(rows),
            "n": len(rows),
        }
        for look, rows in per_look.items()
    }


def conversation_roles(conversations: Sequence[Sequence[str]]) -> tuple[list[str], list[str]]:
    """Every token's role and character (its string), over all `conversations` in order."""
    roles = [role for tokens in conversations for role in token_roles(tokens)]
    characters = [token for tokens in conversations for token in tokens]
    return roles, characters
