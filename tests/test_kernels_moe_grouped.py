"""The routed experts without a loop over experts (`moe_experts_grouped`: PyTorch's grouped matmul,
a padded batched matmul, or gathered weights for a few pairs; `moe_experts_dense`: every expert on
every token, the form a graph export takes) equal the loop of `moe_experts_reference`, forward and
backward, in fp32 and bf16."""

import sys

import pytest
import torch

import r1mini.kernels.moe_experts  # noqa: F401  (the module, not the function of the same name)

experts = sys.modules["r1mini.kernels.moe_experts"]

# (tokens, dim, inter_dim, experts, top-k, the way the GEMMs go)
CASES = [
    (37, 96, 64, 8, 2, "grouped_mm"),
    (29, 50, 30, 6, 3, "padded"),  # rows of 200 and 120 bytes: not what grouped_mm takes
    (1, 96, 64, 8, 2, "gathered"),  # one token, two pairs: decoding one sequence
    (3, 40, 24, 16, 4, "gathered"),
]


def inputs(n, d, inter, n_experts, k, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.stack([torch.randperm(n_experts, generator=g)[:k] for _ in range(n)])  # [N, k]
    tensors = [
        torch.randn(n, d, generator=g),  # x
        torch.rand(n, k, generator=g),  # gate weights
        0.1 * torch.randn(n_experts, inter, d, generator=g),  # w1
        0.1 * torch.randn(n_experts, d, inter, generator=g),  # w2
        0.1 * torch.randn(n_experts, inter, d, generator=g),  # w3
    ]
    return ids, [t.to(dtype) for t in tensors]


def run(fn, ids, tensors, grad_out):
    """fn's output and the gradients of x, gate weights, w1, w2, w3 (in fp32)."""
    leaves = [t.clone().requires_grad_() for t in tensors]
    x, weights, w1, w2, w3 = leaves
    out = fn(x, ids, weights, w1, w2, w3)
    out.backward(grad_out.to(out.dtype))
    return [out.float()] + [leaf.grad.float() for leaf in leaves]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[-1]}-{c[0]}x{c[1]}" for c in CASES])
def test_grouped_experts_equal_the_loop(case, dtype, monkeypatch):
    *shape, way = case
    taken = []
    if hasattr(experts.F, "grouped_mm"):
        monkeypatch.setattr(experts.F, "grouped_mm", wrap(experts.F.grouped_mm, taken, "grouped_mm"))
    elif way == "grouped_mm":
        way = "padded"  # torch < 2.10 has no grouped matmul: the fallback serves
    monkeypatch.setattr(experts, "padded_matmul", wrap(experts.padded_matmul, taken, "padded"))
    ids, tensors = inputs(*shape, dtype)
    grad_out = torch.randn(shape[0], shape[1], generator=torch.Generator().manual_seed(1))
    got = run(experts.moe_experts_grouped, ids, tensors, grad_out)
    assert set(taken) == ({way} if way != "gathered" else set()), taken
    loop = run(experts.moe_experts_reference, ids, tensors, grad_out)
    if dtype == torch.float32:
        for g, e in zip(got, loop, strict=True):
            assert (g - e).abs().max() <= 1e-5 * max(1.0, e.abs().max().item())
        return
    # bf16: as close to the fp32 truth as the loop itself is (each rounds differently)
    truth = run(experts.moe_experts_reference, ids, [t.float() for t in tensors], grad_out)
    for g, e, t in zip(got, loop, truth, strict=True):
        assert (g - t).abs().max() <= 2 * (e - t).abs().max() + 1e-2 * t.abs().max()


def test_the_padded_fallback_equals_grouped_mm(monkeypatch):
    ids, tensors = inputs(41, 96, 64, 8, 2, torch.float32, seed=3)
    grad_out = torch.randn(41, 96, generator=torch.Generator().manual_seed(2))
    grouped = run(experts.moe_experts_grouped, ids, tensors, grad_out)
    monkeypatch.setattr(experts, "takes_grouped_mm", lambda x, inter_dim: False)
    padded = run(experts.moe_experts_grouped, ids, tensors, grad_out)
    for g, p in zip(grouped, padded, strict=True):
        assert (g - p).abs().max() <= 1e-5 * max(1.0, g.abs().max().item())


def test_unused_experts_and_a_crowded_one():
    """Every token routed to the same two experts: empty groups and one full one."""
    ids, tensors = inputs(23, 96, 64, 8, 2, torch.float32, seed=4)
    ids = torch.tensor([[5, 2]] * 23)
    grad_out = torch.randn(23, 96, generator=torch.Generator().manual_seed(3))
    got = run(experts.moe_experts_grouped, ids, tensors, grad_out)
    loop = run(experts.moe_experts_reference, ids, tensors, grad_out)
    for g, e in zip(got, loop, strict=True):
        assert (g - e).abs().max() <= 1e-5 * max(1.0, e.abs().max().item())


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}x{c[1]}-e{c[3]}k{c[4]}" for c in CASES])
def test_dense_experts_equal_the_loop(case):
    """Every expert on every token, weighted by the routing (0 where not chosen), is the loop's sum."""
    *shape, _ = case
    ids, tensors = inputs(*shape, torch.float32, seed=5)
    grad_out = torch.randn(shape[0], shape[1], generator=torch.Generator().manual_seed(4))
    got = run(experts.moe_experts_dense, ids, tensors, grad_out)
    loop = run(experts.moe_experts_reference, ids, tensors, grad_out)
    for g, e in zip(got, loop, strict=True):
        assert (g - e).abs().max() <= 1e-5 * max(1.0, e.abs().max().item())


def test_export_takes_the_dense_experts(monkeypatch):
    """While a model is traced for export, the dispatch takes the dense form, whose shapes follow
    from the input's alone."""
    taken = []
    monkeypatch.setattr(experts, "moe_experts_dense", wrap(experts.moe_experts_dense, taken, "dense"))
    ids, (x, weights, w1, w2, w3) = inputs(7, 96, 64, 8, 2, torch.float32)
    experts.moe_experts(x, ids, weights, w1, w2, w3)
    assert taken == []
    monkeypatch.setattr(torch.compiler, "is_exporting", lambda: True)
    experts.moe_experts(x, ids, weights, w1, w2, w3)
    assert taken == ["dense"]


def wrap(fn, taken, name):
    def recorded(*args, **kwargs):
        taken.append(name)
        return fn(*args, **kwargs)

    return recorded


def test_no_tokens_give_no_rows():
    """An expert-parallel process may receive no tokens at all: zero rows in, zero rows out."""
    _, tensors = inputs(4, 96, 64, 8, 2, torch.float32)
    tensors[:2] = [t[:0] for t in tensors[:2]]  # x [0, d], gate weights [0, k]
    ids = torch.zeros(0, 2, dtype=torch.long)
    got = run(experts.moe_experts_grouped, ids, tensors, torch.zeros(0, 96))
    assert got[0].shape == (0, 96)
    assert all(g.abs().sum() == 0 for g in got[1:])  # no gradient from no tokens


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_the_form_a_compiled_model_takes_equals_the_loop(dtype, monkeypatch):
    """Compiled, the pairs go through the custom grouped matmul and are permuted both ways by
    gathers (`_compiled_pairs`); run eagerly here, it equals the loop, forward and backward."""
    taken = []
    monkeypatch.setattr(experts, "_compiled_pairs", wrap(experts._compiled_pairs, taken, "compiled"))
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    ids, tensors = inputs(37, 96, 64, 8, 2, dtype, seed=6)
    ids[:5] = torch.tensor([3, 1])  # a crowded expert, and (8 experts, 74 pairs) maybe an idle one
    grad_out = torch.randn(37, 96, generator=torch.Generator().manual_seed(5))
    got = run(experts.moe_experts, ids, tensors, grad_out)
    assert taken == ["compiled"]
    truth = run(experts.moe_experts_reference, ids, [t.float() for t in tensors], grad_out)
    tolerance = 1e-5 if dtype == torch.float32 else 2e-2
    for g, t in zip(got, truth, strict=True):
        assert (g - t).abs().max() <= tolerance * max(1.0, t.abs().max().item())


@pytest.mark.skipif(not hasattr(experts.F, "grouped_mm"), reason="torch < 2.10 has no grouped matmul")
def test_the_grouped_mm_op_is_sound():
    """The custom op: its registration (schema, fake shapes, autograd) passes PyTorch's own
    `opcheck`, and its gradients equal those autograd finds for `F.grouped_mm`, empty groups too."""
    from r1mini.kernels.grouped_mm import grouped_mm

    g = torch.Generator().manual_seed(7)
    ends = torch.tensor([5, 5, 12, 20, 20, 31], dtype=torch.int32)  # groups 1 and 4 are empty
    a = torch.randn(31, 32, generator=g, requires_grad=True)
    b = torch.randn(6, 32, 24, generator=g, requires_grad=True)
    torch.library.opcheck(grouped_mm, (a, b, ends))
    grad = torch.randn(31, 24, generator=g)
    ours = torch.autograd.grad(grouped_mm(a, b, ends), (a, b), grad)
    theirs = torch.autograd.grad(experts.F.grouped_mm(a, b, offs=ends), (a, b), grad)
    for o, t in zip(ours, theirs, strict=True):
        assert (o - t).abs().max() <= 1e-5 * t.abs().max()


def test_expert_counts_are_bincount():
    ids = torch.randint(0, 8, (50, 3), generator=torch.Generator().manual_seed(8))
    assert torch.equal(experts.expert_counts(ids, 11), torch.bincount(ids.flatten(), minlength=11))
