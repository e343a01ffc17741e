"""MLA's "auto" path (expanded keys and values for whole sequences, latent attention when decoding)
computes what "naive" and "absorb" compute, in fp32 and bf16, forward and backward; a training
forward writes no cache; `mask=None` means causal attention."""

import itertools

import pytest
import torch

from r1mini import ModelConfig, Transformer
from r1mini.model import MLA, RotaryEmbedding, causal_mask

NANO = ModelConfig.preset("nano")
IMPLS = ("auto", "naive", "absorb")


def ids(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, NANO.vocab_size, shape, generator=torch.Generator().manual_seed(seed))


def same_weights(dtype: torch.dtype = torch.float32) -> dict[str, Transformer]:
    """One model per MLA path, all with the same random weights, large enough for logits far from
    zero, and a non-zero routing bias."""
    torch.manual_seed(0)
    models = {impl: Transformer(NANO.replace(attn_impl=impl)) for impl in IMPLS}
    with torch.no_grad():
        for p in models["auto"].parameters():
            if p.dim() > 1:
                p.normal_(0, 0.15)
        for moe in models["auto"].moe_layers():
            moe.gate.bias.normal_(0, 0.01)
    for model in models.values():
        model.load_state_dict(models["auto"].state_dict())
    return {impl: model.to(dtype) for impl, model in models.items()}


def prefill_then_decode(model: Transformer, tokens: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Logits of a prefill over 8 positions, two one-token steps and a two-token chunk: [B, 12, V]."""
    model.eval()
    cut = [0, 8, 9, 10, 12]
    with torch.no_grad():
        steps = [
            model(tokens[:, a:b], a, attention_mask=None if mask is None else mask[:, :b])
            for a, b in itertools.pairwise(cut)
        ]
    return torch.cat(steps, dim=1)


def test_auto_is_the_default_and_a_stored_choice_stays() -> None:
    assert ModelConfig().attn_impl == ModelConfig.preset("mini").attn_impl == "auto"
    assert ModelConfig.preset("mini", attn_impl="absorb").attn_impl == "absorb"


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "left-padded"])
def test_auto_matches_both_paths_in_prefill_and_decode(padded: bool) -> None:
    tokens = ids(2, 12)
    mask = None
    if padded:
        mask = torch.ones(2, 12, dtype=torch.bool)
        mask[0, :3] = False
    logits = {impl: prefill_then_decode(model, tokens, mask) for impl, model in same_weights().items()}
    assert logits["auto"].abs().max() > 0.5
    for impl in ("naive", "absorb"):
        assert (logits["auto"] - logits[impl]).abs().max() <= 1e-5, impl


def test_clone_switches_the_path_and_keeps_the_weights() -> None:
    model = same_weights()["absorb"].eval()
    auto = model.clone(attn_impl="auto")
    assert auto.config.attn_impl == "auto" and model.clone().config.attn_impl == "absorb"
    with torch.no_grad():
        assert (auto(ids(2, 9)) - model(ids(2, 9))).abs().max() <= 1e-5


def test_auto_caches_the_latent_like_absorb() -> None:
    models = same_weights()
    for model in models.values():
        prefill_then_decode(model, ids(2, 12), None)
    shapes = {
        impl: {k: tuple(v.shape[2:]) for k, v in m.layers[0].attn.cache.items()} for impl, m in models.items()
    }
    assert (
        shapes["auto"]
        == shapes["absorb"]
        == {"latent": (NANO.kv_lora_rank,), "k_pe": (NANO.qk_rope_head_dim,)}
    )


def test_bf16_paths_are_as_close_to_fp32_as_each_other() -> None:
    tokens = ids(2, 12, seed=1)
    truth = prefill_then_decode(same_weights()["auto"], tokens, None)
    errors = {
        impl: (prefill_then_decode(model, tokens, None).float() - truth).abs().max().item()
        for impl, model in same_weights(torch.bfloat16).items()
    }
    assert errors["auto"] <= 0.05 * truth.abs().max().item()  # bf16 roundings, not a wrong path
    assert errors["auto"] <= max(errors["naive"], errors["absorb"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_training_gradients_agree_across_paths(dtype: torch.dtype) -> None:
    tokens = ids(2, 10, seed=2)
    grads = {}
    for impl, model in same_weights(dtype).items():
        model.train()
        loss = torch.nn.functional.cross_entropy(
            model(tokens[:, :-1]).flatten(0, 1).float(), tokens[:, 1:].flatten()
        )
        loss.backward()
        grads[impl] = {n: p.grad.float() for n, p in model.named_parameters() if p.grad is not None}
    assert grads["auto"].keys() == grads["absorb"].keys()
    tol = 1e-5 if dtype == torch.float32 else 5e-2
    for impl in ("naive", "absorb"):
        for name, grad in grads["auto"].items():
            scale = grad.abs().max().item() + 1e-6
            assert (grad - grads[impl][name]).abs().max().item() <= tol * max(scale, 1.0), (impl, name)


def test_a_training_forward_writes_no_cache() -> None:
    model = same_weights()["auto"].train()
    model(ids(2, 6))  # training mode, gradients on: no use for a cache
    assert all(not layer.attn.cache and layer.attn.cache_len == 0 for layer in model.layers)
    with torch.no_grad():
        model(ids(2, 6))  # no gradients: someone may decode after it
    assert all(layer.attn.cache_len == 6 for layer in model.layers)
    model.reset_cache()
    model(ids(2, 6), use_cache=True)  # asked for
    assert all(layer.attn.cache_len == 6 for layer in model.layers)
    model.eval().reset_cache()
    with torch.no_grad():
        model(ids(2, 6), use_cache=False)
    assert all(not layer.attn.cache for layer in model.layers)


@pytest.mark.parametrize("impl", IMPLS)
def test_no_mask_means_causal(impl: str) -> None:
    torch.manual_seed(0)
    attn = MLA(NANO.replace(attn_impl=impl)).eval()
    rope = RotaryEmbedding(NANO)
    x = torch.randn(2, 7, NANO.dim)
    with torch.no_grad():
        causal = attn(x[:, :5], 0, rope(torch.arange(5)), causal_mask(0, 5, x.device, None))
        chunk = attn(x[:, 5:], 5, rope(torch.arange(5, 7)), causal_mask(5, 2, x.device, None))
        attn.reset_cache()
        implicit = attn(x[:, :5], 0, rope(torch.arange(5)), None)
        implicit_chunk = attn(x[:, 5:], 5, rope(torch.arange(5, 7)), None)
        attn.record = []
        attn.reset_cache()
        recorded = attn(x[:, :5], 0, rope(torch.arange(5)), None)
    assert (causal - implicit).abs().max() <= 1e-6
    assert (chunk - implicit_chunk).abs().max() <= 1e-6
    assert (recorded - causal).abs().max() <= 1e-6
    assert attn.record[0][0, 0].triu(1).abs().max() == 0  # the recorded probabilities are causal
