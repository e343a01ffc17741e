"""Autotuning: the tuner's choice logic, and every GPU candidate computing the reference's result.

On a CPU nothing is timed (the interpreter cannot autotune, and CPU runs stay deterministic). To
check what a GPU would run, these tests make a wrapper believe it is compiled (its module's
`interpreting` returns False, so it builds the GPU candidates: GPU tiles, warps, stages, cache
splits). Each candidate in turn is then the only one the wrapper may choose: it launches that
candidate, through the interpreter, and its result is compared with the PyTorch reference. A last
test gives the tuner a fake timer that declares one candidate the fastest: every candidate is
timed once, and the winner is reused, and right, at another shape of the same class.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

pytest.importorskip("triton", reason="Triton kernels: Triton ships for Linux only")

from r1mini import kernels
from r1mini.kernels import (
    fp8_launch,
    fp8_triton,
    mla_attention_launch,
    mla_attention_triton,
    moe_experts_launch,
    moe_experts_triton,
    tuning,
)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _counting_timer(times: list[float]) -> tuple[Callable, list[int]]:
    """A timer returning `times` in order (one per candidate), calling each function once."""
    calls: list[int] = []

    def timer(fn: Callable[[], object]) -> float:
        fn()
        calls.append(1)
        return times[len(calls) - 1]

    return timer, calls


def test_tuner_picks_the_fastest_once_per_key() -> None:
    timer, calls = _counting_timer([3.0, 1.0, 2.0, 9.0, 9.0, 0.5])
    tuner = tuning.Tuner(timer=timer, enabled=lambda: True)
    launched: list[str] = []
    candidates = [{"name": "a"}, {"name": "b"}, {"name": "c"}]
    assert tuner.pick("op", ("k", 1), candidates, lambda c: launched.append(c["name"])) == {"name": "b"}
    assert launched == ["a", "b", "c"] and len(calls) == 3
    assert tuner.pick("op", ("k", 1), candidates, lambda c: launched.append(c["name"])) == {"name": "b"}
    assert len(calls) == 3, "a known key must not be timed again"
    assert [t for _, t in tuner.timings[("op", ("k", 1))]] == [3.0, 1.0, 2.0]
    assert tuner.pick("op", ("k", 2), candidates, lambda c: None) == {"name": "c"}  # new key: 9, 9, 0.5
    tuner.clear()
    assert not tuner.best and not tuner.timings


def test_tuner_off_or_single_candidate_times_nothing() -> None:
    timer, calls = _counting_timer([1.0])
    off = tuning.Tuner(timer=timer, enabled=lambda: False)
    assert off.pick("op", 0, [{"a": 1}, {"a": 2}], lambda c: None) == {"a": 1}
    on = tuning.Tuner(timer=timer, enabled=lambda: True)
    assert on.pick("op", 0, [{"a": 1}], lambda c: None) == {"a": 1}
    assert not calls
    with pytest.raises(ValueError, match="op: no launch config"):
        on.pick("op", 0, [], lambda c: None)


def test_autotune_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert not tuning.autotune_enabled(), "the interpreter never tunes"
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    monkeypatch.setenv("R1MINI_AUTOTUNE", "0")
    assert not tuning.autotune_enabled()
    monkeypatch.setenv("R1MINI_AUTOTUNE", "1")
    assert tuning.autotune_enabled()


def test_interpreted_runs_use_the_default_config() -> None:
    """What CI runs: the interpreter, one candidate per shape, nothing timed."""
    assert moe_experts_launch.candidates(64, 8, 96, 64, torch.float32, True) == [{}]
    assert fp8_launch.gemm_candidates(64, True) == [{}]
    fixed = dict(dtypes=(torch.float32,), has_mask=False, interpret=True, sm_count=1)
    assert mla_attention_launch.candidates(2, 1, 4, 64, 32, 8, **fixed) == [{}]


# --- every GPU candidate, run through the wrapper, against the reference ------------------------


def _moe(n: int):
    torch.manual_seed(n)
    e, k, d, inter = 4, 2, 200, 136  # widths that no tile divides
    x = torch.randn(n, d, device=DEVICE)
    ids = torch.stack([torch.randperm(e, device=DEVICE)[:k] for _ in range(n)])  # [N, k]
    weights = torch.rand(n, k, device=DEVICE)
    w1, w3 = (torch.randn(e, inter, d, device=DEVICE) / d**0.5 for _ in range(2))
    w2 = torch.randn(e, d, inter, device=DEVICE) / inter**0.5
    return (x, ids, weights, w1, w2, w3), moe_experts_triton.moe_experts_triton, kernels.moe_experts_reference


def _mla(s: int):
    torch.manual_seed(s)
    b, h, c, r = 2, 4, 40, 8  # decoding: T = 1
    args = (
        torch.randn(b, 1, h, c, device=DEVICE),
        torch.randn(b, 1, h, r, device=DEVICE),
        torch.randn(b, s, c, device=DEVICE),
        torch.randn(b, s, r, device=DEVICE),
        0.2,
        None,
    )
    return args, mla_attention_triton.mla_attention_triton, kernels.mla_attention_reference


def _mla_prefill(t: int):
    torch.manual_seed(t)
    b, h, c, r = 1, 4, 40, 8
    mask = torch.ones(t, t, dtype=torch.bool, device=DEVICE).tril()[None]  # [1, T, S]
    args = (
        torch.randn(b, t, h, c, device=DEVICE),
        torch.randn(b, t, h, r, device=DEVICE),
        torch.randn(b, t, c, device=DEVICE),
        torch.randn(b, t, r, device=DEVICE),
        0.2,
        mask,
    )
    return args, mla_attention_triton.mla_attention_triton, kernels.mla_attention_reference


def _fp8(m: int):
    torch.manual_seed(m)
    n, k = 200, 256
    a, a_scale = kernels.act_quant_reference(torch.randn(m, k, device=DEVICE))
    b = torch.randn(n, k, device=DEVICE).to(torch.float8_e4m3fn)
    b_scale = torch.rand(2, k // 128, device=DEVICE) + 0.5
    return (a, a_scale, b, b_scale), fp8_triton.fp8_gemm_triton, kernels.fp8_gemm_reference


# problem -> (its inputs at a size, the wrapper's module, the module and name of its candidates,
# (tuned size, another size of the same shape class))
TUNED = {
    "moe_experts": (_moe, moe_experts_triton, (moe_experts_launch, "candidates"), (100, 120)),  # class 256
    "mla_decode": (_mla, mla_attention_triton, (mla_attention_launch, "candidates"), (100, 120)),  # 128
    "mla_prefill": (_mla_prefill, mla_attention_triton, (mla_attention_launch, "candidates"), (40, 50)),
    "fp8_gemm": (_fp8, fp8_triton, (fp8_launch, "gemm_candidates"), (300, 400)),  # row class 512
}


def _gpu_candidates(name: str) -> list[dict]:
    """The GPU candidates (launch-config overrides) of problem `name` at its tuned size."""
    make, _, (plan, _), (size, _) = TUNED[name]
    args = make(size)[0]
    if name == "moe_experts":
        x, ids, _, w1, _, _ = args
        return plan.candidates(ids.numel(), w1.shape[0], x.shape[1], w1.shape[1], x.dtype, False)
    if name == "fp8_gemm":
        return plan.gemm_candidates(args[0].shape[0], False)
    q_lat, q_pe, kv, _, _, mask = args
    (b, t, h, c), r, s = q_lat.shape, q_pe.shape[-1], kv.shape[1]
    fixed = dict(dtypes=(q_lat.dtype, kv.dtype), has_mask=mask is not None, interpret=False, sm_count=1)
    return plan.candidates(b, t, h, s, c, r, **fixed)


def _matches_reference(name: str, size: int) -> None:
    args, triton_op, reference = TUNED[name][0](size)
    got, want = triton_op(*args), reference(*args)
    want = want[0] if isinstance(want, tuple) else want
    tol = 2e-4 if got.dtype == torch.float32 else 1e-2  # fp8_gemm writes bf16
    err = (got.float() - want.float()).abs().max() / want.float().abs().max()
    assert err <= tol, f"{name} at size {size}: relative error {err:.2e}"


CASES = [(name, i) for name in TUNED for i in range(len(_gpu_candidates(name)))]


@pytest.fixture
def as_on_a_gpu(monkeypatch: pytest.MonkeyPatch):
    """The wrappers build their GPU candidates (not the interpreter's single default)."""
    for _, module, _, _ in TUNED.values():
        monkeypatch.setattr(module, "interpreting", lambda: False)
    tuning.TUNER.clear()
    yield
    tuning.TUNER.clear()


@pytest.mark.integration
@pytest.mark.parametrize("name, index", CASES, ids=[f"{n}-candidate{i}" for n, i in CASES])
def test_every_gpu_candidate_matches_the_reference(
    name: str, index: int, as_on_a_gpu: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, module, (_, function), (size, _) = TUNED[name]
    found = _gpu_candidates(name)
    assert len(found) >= 3, f"{name}: expected a real choice of GPU configs, got {len(found)}"
    only = found[index]
    monkeypatch.setattr(module, function, lambda *args, **kwargs: [only])  # the wrapper's only choice
    monkeypatch.setattr(tuning.TUNER, "timer", lambda fn: pytest.fail("a single candidate is never timed"))
    monkeypatch.setattr(tuning.TUNER, "enabled", lambda: True)
    _matches_reference(name, size)


@pytest.mark.integration
@pytest.mark.parametrize("name", TUNED)
def test_the_tuner_times_each_candidate_once_and_reuses_the_fastest(
    name: str, as_on_a_gpu: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = len(_gpu_candidates(name))
    winner = n - 1
    timer, calls = _counting_timer([0.0 if i == winner else 1.0 for i in range(n)])
    monkeypatch.setattr(tuning.TUNER, "timer", timer)
    monkeypatch.setattr(tuning.TUNER, "enabled", lambda: True)
    for size in TUNED[name][3]:
        _matches_reference(name, size)
    assert len(calls) == n, "every candidate timed once, and the choice reused for the class"
    (chosen,) = tuning.TUNER.best.values()
    assert chosen == next(iter(tuning.TUNER.timings.values()))[winner][0] == _gpu_candidates(name)[winner]
