"""RMSNorm: Triton forward and backward against autograd of the PyTorch reference."""

import pytest
import torch

pytest.importorskip("triton", reason="Triton kernels: Triton ships for Linux only")

from r1mini import kernels
from r1mini.kernels.rmsnorm_triton import rms_norm_triton

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# fp32: exact up to summation order; fp16/bf16: one rounding of the output (the interpreter
# truncates fp32 -> bf16 instead of rounding, hence the looser bf16 bound).
TOL = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 2e-2}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("shape", [(3, 37), (2, 5, 96), (1, 7168)])
def test_rms_norm_matches_reference(shape: tuple[int, ...], dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    x = torch.randn(shape, device=DEVICE).mul(3).to(dtype).requires_grad_()
    w = (torch.rand(shape[-1], device=DEVICE) + 0.5).to(dtype).requires_grad_()
    with kernels.use("triton"):
        y = kernels.rms_norm(x, w, 1e-6)
    y_ref = kernels.rms_norm_reference(x, w, 1e-6)
    tol = TOL[dtype]
    torch.testing.assert_close(y.float(), y_ref.float(), atol=tol, rtol=tol)
    dy = torch.randn_like(y)
    dx, dw = torch.autograd.grad(y, (x, w), dy)
    dx_ref, dw_ref = torch.autograd.grad(y_ref, (x, w), dy)
    torch.testing.assert_close(dx.float(), dx_ref.float(), atol=tol, rtol=tol)
    rows = x.numel() // shape[-1]
    torch.testing.assert_close(dw.float(), dw_ref.float(), atol=tol * rows, rtol=tol)


def test_rms_norm_non_contiguous_input_is_copied() -> None:
    x = torch.randn(37, 6, device=DEVICE).t()  # [6, 37], not contiguous
    w = torch.rand(37, device=DEVICE) + 0.5
    torch.testing.assert_close(
        rms_norm_triton(x, w, 1e-6), kernels.rms_norm_reference(x, w, 1e-6), atol=1e-5, rtol=1e-5
    )
