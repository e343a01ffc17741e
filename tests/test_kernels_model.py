"""The whole model gives the same logits and training gradients through the Triton kernels as through
the PyTorch references (on a CPU: Triton's interpreter)."""

import pytest
import torch
import torch.nn.functional as F

from r1mini import ModelConfig, Transformer, kernels

pytestmark = [pytest.mark.triton, pytest.mark.integration]

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(scope="module")
def model() -> Transformer:
    torch.manual_seed(0)
    config = ModelConfig.preset("mini", attn_impl="absorb")  # MLA's Triton kernel in training too
    net = Transformer(config).to(DEVICE)
    for moe in net.moe_layers():  # a non-zero correction bias, so the choice really depends on it
        moe.gate.bias.data.normal_(0, 0.01)
    return net


def _prefill_then_decode(model: Transformer, tokens: torch.Tensor) -> tuple[torch.Tensor, ...]:
    for layer in model.layers:
        layer.attn.reset_cache()
    prefill = model(tokens[:, :-1], 0)  # [B, T-1, V]
    decode = model(tokens[:, -1:], tokens.shape[1] - 1)  # [B, 1, V]
    return prefill, decode


def test_logits_match_prefill_and_decode(model: Transformer) -> None:
    model.eval()
    tokens = torch.randint(0, model.config.vocab_size, (2, 13), device=DEVICE)
    with torch.no_grad():
        with kernels.use("torch"):
            expected = _prefill_then_decode(model, tokens)
        with kernels.use("triton"):
            got = _prefill_then_decode(model, tokens)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, atol=1e-4, rtol=1e-4)


def test_training_gradients_match(model: Transformer) -> None:
    model.train()
    tokens = torch.randint(0, model.config.vocab_size, (2, 11), device=DEVICE)

    def grads() -> dict[str, torch.Tensor]:
        model.zero_grad()
        logits = model(tokens[:, :-1])  # [B, T, V]
        loss = F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
        loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    with kernels.use("torch"):
        expected = grads()
    with kernels.use("triton"):
        got = grads()
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=1e-5, rtol=1e-4, msg=name)
