"""Fused token log-probabilities: forward and backward against log_softmax + gather."""

import pytest
import torch

from r1mini import kernels

pytestmark = pytest.mark.triton

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOL = {torch.float32: 1e-5, torch.bfloat16: 1e-2}  # bf16: the gradient is stored in bf16


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("n, vocab", [(7, 1000), (3, 129280)])
def test_token_logprobs_matches_reference(n: int, vocab: int, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    logits = torch.randn(n, vocab, device=DEVICE).mul(3).to(dtype).requires_grad_()
    ids = torch.randint(0, vocab, (n,), device=DEVICE)
    with kernels.use("triton"):
        lp = kernels.token_logprobs(logits, ids)
    lp_ref = kernels.token_logprobs_reference(logits, ids)
    torch.testing.assert_close(lp, lp_ref, atol=1e-5, rtol=1e-5)
    g = torch.randn(n, device=DEVICE)
    (grad,) = torch.autograd.grad(lp, logits, g)
    (grad_ref,) = torch.autograd.grad(lp_ref, logits, g)
    tol = TOL[dtype]
    torch.testing.assert_close(grad.float(), grad_ref.float(), atol=tol, rtol=tol)
