"""Model behaviour beyond parity: input errors, padding, records, balancing, MTP, gradients."""

import pytest
import torch

from r1mini import ModelConfig, Transformer
from r1mini.model import Gate, sequence_balance_loss

NANO = ModelConfig.preset("nano")


@pytest.fixture
def model():
    torch.manual_seed(0)
    return Transformer(NANO).eval()


def ids(*shape, seed=0):
    return torch.randint(0, NANO.vocab_size, shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m(ids(5)), "tokens must be [batch, seq]; got shape (5,)"),
        (lambda m: m(ids(1, 3).float()), "tokens must be int64 or int32; got torch.float32"),
        (lambda m: m(torch.full((1, 3), 64)), "token ids must lie in [0, vocab_size=64)"),
        (lambda m: m(ids(1, 129)), "start_pos + seq must be <= max_seq_len=128"),
        (lambda m: m(ids(1, 2), start_pos=127), "positions 127..128 exceed the context"),
        (
            lambda m: m(ids(1, 1), start_pos=3),
            "start_pos=3 continues a cache that holds 0 positions",
        ),
        (
            lambda m: m(ids(2, 3), attention_mask=torch.ones(2, 4, dtype=torch.bool)),
            "attention_mask must be [batch, start_pos + seq] = [2, 3]",
        ),
        (lambda m: m([[1, 2, 3]]), "tokens must be a torch.Tensor of ids [batch, seq]; got a list"),
        (lambda m: m(ids(0, 3)), "tokens must hold at least one sequence and one position; got [0, 3]"),
        (lambda m: m(ids(1, 3), start_pos=1.0), "start_pos=1.0 must be an integer, not a float"),
        (lambda m: m(ids(1, 3), start_pos=-1), "start_pos=-1 must be at least 0"),
        (lambda m: m(ids(1, 3), attention_mask=[[1, 1, 1]]), "attention_mask must be a torch.Tensor or None"),
    ],
)
def test_bad_input_is_named(model, call, message):
    with pytest.raises(ValueError) as error:
        call(model)
    assert message in str(error.value)


def test_decode_must_follow_a_prefill_of_the_same_batch(model):
    model(ids(2, 4))
    with pytest.raises(ValueError, match="for batch 2; run the prompt from start_pos=0 first"):
        model(ids(3, 1), start_pos=4)


def test_left_padding_with_mask_matches_unpadded(model):
    """RoPE is relative, so left-padded prompts with a key mask give each prompt's own logits."""
    short, long = ids(1, 5, seed=1), ids(1, 8, seed=2)
    pad = torch.zeros(1, 3, dtype=torch.long)
    batch = torch.cat([torch.cat([pad, short], 1), long])  # [2, 8]
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[0, :3] = False
    alone_model = Transformer(NANO).eval()
    alone_model.load_state_dict(model.state_dict())
    nxt = ids(2, 1, seed=3)
    with torch.no_grad():
        together = model(batch, attention_mask=mask)
        step = model(nxt, start_pos=8, attention_mask=torch.cat([mask, mask[:, -1:]], dim=1))
        alone = alone_model(short)
        alone_step = alone_model(nxt[:1], start_pos=5)
    assert torch.allclose(together[0, 3:], alone[0], atol=1e-5)
    assert torch.allclose(step[0], alone_step[0], atol=1e-5)


def test_recording_captures_attention_and_routing(model):
    x = ids(2, 6)
    with torch.no_grad(), model.recording() as records:
        model(x)
        model(ids(2, 1), start_pos=6)
    attn = records[0]["attention"]
    assert [a.shape for a in attn] == [(2, NANO.n_heads, 6, 6), (2, NANO.n_heads, 1, 7)]
    assert torch.allclose(attn[0].sum(-1), torch.ones(2, NANO.n_heads, 6))
    assert attn[0][0, 0].triu(1).abs().max() == 0  # causal
    routing = records[1]["routing"][0]
    assert routing["ids"].shape == (2, 6, NANO.n_activated_experts)
    assert routing["scores"].shape == routing["biased_scores"].shape == (2, 6, NANO.n_routed_experts)
    assert records[0]["routing"] == []  # layer 0 is dense
    assert all(layer.attn.record is None for layer in model.layers)  # off again after the block


def test_bias_update_moves_toward_balance():
    torch.manual_seed(0)
    gate = Gate(NANO).train()
    torch.nn.init.normal_(gate.weight, std=1.0)
    gate(torch.randn(64, NANO.dim))
    load = gate.load.clone()
    assert load.sum() == 64 * NANO.n_activated_experts
    used = gate.update_bias(0.01)
    assert torch.equal(used, load) and gate.load.sum() == 0
    mean = load.mean()
    assert torch.all(gate.bias[load > mean] == -0.01) and torch.all(gate.bias[load < mean] == 0.01)


def test_bias_only_changes_the_choice_not_the_weights():
    torch.manual_seed(0)
    gate = Gate(NANO).eval()
    torch.nn.init.normal_(gate.weight, std=1.0)
    x = torch.randn(16, NANO.dim)
    _, ids0, scores = gate(x)
    gate.bias[ids0[0, 0]] = -10.0  # push token 0's top expert out of reach
    w1, ids1, _ = gate(x)
    assert ids0[0, 0] not in ids1[0]
    chosen = scores[0, ids1[0]]
    assert torch.allclose(w1[0], chosen / chosen.sum() * NANO.route_scale)  # unbiased scores


def test_sequence_balance_loss():
    experts = 4
    scores = torch.full((1, 4, experts), 0.5)  # uniform affinities
    balanced = torch.tensor([[[0, 1], [2, 3], [0, 1], [2, 3]]])
    collapsed = torch.tensor([[[0, 1]] * 4])
    assert sequence_balance_loss(scores, balanced, experts).item() == pytest.approx(1.0)
    assert sequence_balance_loss(scores, collapsed, experts).item() == pytest.approx(1.0)
    skewed = torch.tensor([[[0.9, 0.9, 0.1, 0.1]] * 4])  # mass on the experts that are chosen
    assert sequence_balance_loss(skewed, collapsed, experts).item() == pytest.approx(1.8)
    assert sequence_balance_loss(skewed, balanced, experts).item() == pytest.approx(1.0)


def test_training_forward_mtp_and_gradients():
    torch.manual_seed(0)
    model = Transformer(NANO).train()
    x = ids(2, 12)
    logits, hidden = model(x, return_hidden=True)
    (mtp,) = model.mtp_logits(hidden, x)
    assert mtp.shape == (2, 11, NANO.vocab_size)
    ce = torch.nn.functional.cross_entropy
    loss = ce(logits[:, :-1].flatten(0, 1), x[:, 1:].flatten())
    loss = loss + 0.3 * ce(mtp[:, :-1].flatten(0, 1), x[:, 2:].flatten()) + 1e-4 * model.balance_loss()
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert no_grad == []
    loads = model.update_biases(0.001)  # the main stack's MoE layers, then the MTP module's
    assert loads.shape == (NANO.n_moe_layers + NANO.n_mtp_layers, NANO.n_routed_experts)
    assert torch.all(loads.sum(-1) > 0)  # every layer, MTP included, counted its tokens
    assert all(moe.gate.load.sum() == 0 for moe in model.moe_layers())


def test_balance_loss_needs_a_training_forward(model):
    with pytest.raises(ValueError, match="balance_loss needs a forward pass in training mode"):
        model.balance_loss()
