"""FP8 weights: 128×128 block quantisation (the inverse of weight_dequant), per-tensor scaling, and a
model rounded through FP8."""

import pytest
import torch

from r1mini import ModelConfig, Transformer
from r1mini.fp8_format import FP8, FP8_MAX, activation_nbytes, weight_nbytes
from r1mini.io.fp8 import round_weights_to_fp8_, tensor_quant, weight_quant
from r1mini.kernels import act_quant_reference, weight_dequant_reference


def test_weight_quant_round_trips_per_block() -> None:
    torch.manual_seed(0)
    w = torch.randn(300, 200) * torch.logspace(-3, 1, 200)  # columns of very different sizes
    w_fp8, scale_inv = weight_quant(w)
    assert w_fp8.dtype == FP8 and w_fp8.shape == (300, 200) and scale_inv.shape == (3, 2)
    # each block's largest |w| lands on 448
    blocks = w_fp8.float().abs()[:256, :128].reshape(2, 128, 1, 128).amax(dim=(1, 3))
    assert torch.equal(blocks, torch.full((2, 1), FP8_MAX))
    back = weight_dequant_reference(w_fp8, scale_inv, torch.float32)
    normal = w.abs() >= 2**-6 * scale_inv.repeat_interleave(128, 0)[:300].repeat_interleave(128, 1)[:, :200]
    torch.testing.assert_close(back[normal], w[normal], atol=0, rtol=2**-4)


@pytest.mark.parametrize("shape", [(300, 200), (128, 256), (7, 1), (4, 129, 130)])
def test_fp8_byte_accounting_equals_the_stored_tensors(shape: tuple[int, ...]) -> None:
    """`weight_nbytes` / `activation_nbytes`, which accounting and deployment use, against the
    tensors weight_quant and act_quant really store (each matrix of a stack on its own)."""
    matrices = torch.randn(shape).view(-1, *shape[-2:])
    stored = 0
    for w in matrices:
        w_fp8, scale_inv = weight_quant(w)
        stored += w_fp8.nbytes + scale_inv.nbytes
    assert weight_nbytes(shape) == stored
    x_fp8, scale = act_quant_reference(torch.randn(3, 256))
    assert 3 * activation_nbytes(256) == x_fp8.nbytes + scale.nbytes


def test_weight_quant_rejects_a_vector() -> None:
    with pytest.raises(ValueError, match="2-D float matrix"):
        weight_quant(torch.randn(128))


def test_tensor_quant_one_scale() -> None:
    x = torch.tensor([[1.0, -2.0], [0.5, 896.0]])
    x_fp8, scale = tensor_quant(x)
    assert scale.item() == 2.0 and x_fp8.float().max().item() == FP8_MAX
    torch.testing.assert_close(x_fp8.float() * scale, x, atol=0, rtol=2**-4)


def test_round_weights_to_fp8_keeps_embedding_head_and_gates() -> None:
    torch.manual_seed(0)
    model = Transformer(ModelConfig.preset("mini")).eval()
    before = {n: p.clone() for n, p in model.named_parameters()}
    tokens = torch.randint(0, model.config.vocab_size, (1, 12))
    with torch.no_grad():
        logits = model(tokens)
        names = round_weights_to_fp8_(model)
        logits_fp8 = model(tokens)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == set(names)
    assert any(".experts.w1" in n for n in names) and any("attn" in n for n in names)
    assert not any(n.startswith(("embed", "head")) or ".gate." in n for n in names)
    assert 0 < (logits_fp8 - logits).abs().max() < 0.1 * logits.abs().max()
