"""r1mini's DeepSeek-V3 against transformers' `DeepseekV3ForCausalLM` (the oracle), both MLA paths."""

import pytest
import torch
from helpers import HF_CASES, tiny_hf_model

from r1mini.io import from_transformers, to_transformers

TOL = 1e-5  # fp32 max abs difference of the logits


@pytest.fixture(params=sorted(HF_CASES), scope="module")
def hf_model(request):
    return tiny_hf_model(**HF_CASES[request.param])


def tokens(batch: int = 2, seq: int = 40, vocab: int = 50, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("attn_impl", ["naive", "absorb"])
def test_prefill_logits_match(hf_model, attn_impl):
    x = tokens()  # 40 positions: past YaRN's original length of 16 in the yarn cases
    with torch.no_grad():
        expected = hf_model(x).logits
        got = from_transformers(hf_model, attn_impl=attn_impl).eval()(x)
    assert expected.abs().max() > 0.5  # logits are far from zero, so the tolerance means something
    assert (got - expected).abs().max() <= TOL


@pytest.mark.parametrize("attn_impl", ["naive", "absorb"])
def test_prefill_then_decode_matches(hf_model, attn_impl):
    x = tokens()
    model = from_transformers(hf_model, attn_impl=attn_impl).eval()
    with torch.no_grad():
        expected = hf_model(x).logits
        steps = [model(x[:, :25])]
        steps += [model(x[:, t : t + 1], start_pos=t) for t in range(25, 33)]
        steps.append(model(x[:, 33:], start_pos=33))  # a multi-token chunk on top of the cache
    assert (torch.cat(steps, dim=1) - expected).abs().max() <= TOL


def test_naive_and_absorbed_agree(hf_model):
    x = tokens(seed=3)
    with torch.no_grad():
        naive = from_transformers(hf_model, attn_impl="naive").eval()(x)
        absorbed = from_transformers(hf_model, attn_impl="absorb").eval()(x)
    assert (naive - absorbed).abs().max() <= TOL


def test_export_round_trip(hf_model):
    """r1mini -> transformers gives the same logits (a model trained here loads in transformers)."""
    x = tokens(seed=5)
    model = from_transformers(hf_model).eval()
    with torch.no_grad():
        model.layers[-1].ffn.gate.bias.normal_(0, 0.3)  # a state transformers never produced
        ours = model(x)
        theirs = to_transformers(model)(x).logits
    assert (ours - theirs).abs().max() <= TOL


def test_routing_is_exercised(hf_model):
    """The correction bias and the group limit really change which experts are chosen."""
    model = from_transformers(hf_model).eval()
    with torch.no_grad(), model.recording() as records:
        model(tokens())
    routing = [r for record in records for r in record["routing"]]
    assert routing
    k = routing[0]["ids"].shape[-1]
    plain = [r["scores"].topk(k).indices.sort().values for r in routing]  # top-k ignoring both
    chosen = [r["ids"].sort().values for r in routing]
    assert any(not torch.equal(p, c) for p, c in zip(plain, chosen, strict=True))
