"""FP8 block quantisation: act_quant, weight_dequant and fp8_gemm against the references."""

import pytest
import torch

from r1mini import kernels
from r1mini.fp8_format import FP8

pytestmark = pytest.mark.triton

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def test_act_quant_matches_reference() -> None:
    torch.manual_seed(0)
    x = torch.randn(5, 3, 384, device=DEVICE).mul(3).to(torch.bfloat16)
    with kernels.use("triton"):
        x_fp8, scale = kernels.act_quant(x)
    x_fp8_ref, scale_ref = kernels.act_quant_reference(x)
    assert x_fp8.dtype == FP8 and scale.shape == (5, 3, 3)
    torch.testing.assert_close(scale, scale_ref, atol=0, rtol=0)
    torch.testing.assert_close(x_fp8.float(), x_fp8_ref.float(), atol=0, rtol=0)
    # the round trip: within half an e4m3 step (2^-4 relative) of each block's values
    back = (x_fp8.float().unflatten(-1, (3, 128)) * scale[..., None]).flatten(-2)
    torch.testing.assert_close(back, x.float(), atol=0, rtol=2**-4)


def test_weight_dequant_matches_reference() -> None:
    torch.manual_seed(0)
    w = torch.randn(300, 200, device=DEVICE).to(FP8)  # not a multiple of 128: partial blocks
    s = torch.rand(3, 2, device=DEVICE) + 0.1
    with kernels.use("triton"):
        out = kernels.weight_dequant(w, s, torch.float32)
    torch.testing.assert_close(out, kernels.weight_dequant_reference(w, s, torch.float32))


def test_fp8_gemm_matches_reference_at_671b_width() -> None:
    """A few tokens through a 7168 -> 200 projection (K = 56 blocks of 128, N a partial block)."""
    torch.manual_seed(0)
    a, a_s = kernels.act_quant_reference(torch.randn(3, 7168, device=DEVICE))
    b = torch.randn(200, 7168, device=DEVICE).to(FP8)
    b_s = torch.rand(2, 56, device=DEVICE) * 0.01
    with kernels.use("triton"):
        out = kernels.fp8_gemm(a, a_s, b, b_s, torch.float32)
    out_ref = kernels.fp8_gemm_reference(a, a_s, b, b_s, torch.float32)
    torch.testing.assert_close(out, out_ref, atol=1e-4, rtol=1e-4)
