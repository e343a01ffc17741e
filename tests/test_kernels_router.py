"""Router: the Triton expert choice gives the reference's ids and (differentiable) weights."""

import pytest
import torch

from r1mini import kernels

pytestmark = pytest.mark.triton

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
CASES = {
    # name: (tokens, experts, score_func, groups, kept groups, top-k, scale, normalise, bias)
    "mini": (19, 8, "sigmoid", 4, 2, 2, 1.0, True, True),
    "v3-671b": (5, 256, "sigmoid", 8, 4, 8, 2.5, True, True),
    "v2-236b": (7, 160, "softmax", 8, 3, 6, 16.0, False, False),  # 20 experts a group: not 2^n
    "v2-lite": (6, 64, "softmax", 1, 1, 6, 1.0, False, False),
    "odd": (9, 21, "sigmoid", 3, 2, 5, 1.0, True, True),
}


@pytest.mark.parametrize("case", CASES)
def test_route_matches_reference(case: str) -> None:
    n, e, score_func, groups, kept, topk, scale, norm, has_bias = CASES[case]
    torch.manual_seed(0)
    logits = torch.randn(n, e, device=DEVICE).mul(2).requires_grad_()
    bias = torch.randn(e, device=DEVICE).mul(0.1) if has_bias else None
    kw = dict(
        score_func=score_func,
        n_groups=groups,
        n_limited_groups=kept,
        topk=topk,
        route_scale=scale,
        norm_topk_prob=norm,
    )
    with kernels.use("triton"):
        weights, ids, scores = kernels.route(logits, bias, **kw)
    weights_ref, ids_ref, scores_ref = kernels.route_reference(logits, bias, **kw)
    assert torch.equal(ids, ids_ref)
    torch.testing.assert_close(weights, weights_ref, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(scores, scores_ref)
    g = torch.randn_like(weights)
    (grad,) = torch.autograd.grad(weights, logits, g)
    (grad_ref,) = torch.autograd.grad(weights_ref, logits, g)
    torch.testing.assert_close(grad, grad_ref, atol=1e-6, rtol=1e-6)
