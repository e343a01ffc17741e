"""The Triton wrappers reject bad inputs with messages that name the argument, value and rule."""

import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("triton", reason="Triton kernels: Triton ships for Linux only")

from r1mini import kernels
from r1mini.fp8_format import FP8
from r1mini.kernels.logprobs_triton import token_logprobs_triton
from r1mini.kernels.mla_attention_triton import mla_attention_triton
from r1mini.kernels.moe_experts_triton import moe_experts_triton
from r1mini.kernels.rmsnorm_triton import rms_norm_triton
from r1mini.kernels.router_triton import route_triton


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match=r"'cuda' is unknown"):
        kernels.use("cuda")  # type: ignore[arg-type]


def test_rms_norm_errors() -> None:
    x = torch.randn(4, 8)
    with pytest.raises(ValueError, match=r"weight.shape=\(7,\) must be \[d\]"):
        rms_norm_triton(x, torch.ones(7), 1e-6)
    with pytest.raises(TypeError, match=r"x.dtype=torch.int64 is not supported"):
        rms_norm_triton(torch.ones(4, 8, dtype=torch.int64), torch.ones(8), 1e-6)
    with pytest.raises(ValueError, match=r"eps=0.0 must be > 0"):
        rms_norm_triton(x, torch.ones(8), 0.0)
    with pytest.raises(ValueError, match=r"different devices"):
        rms_norm_triton(x, torch.ones(8, device="meta"), 1e-6)


def test_router_errors() -> None:
    kw = dict(
        score_func="sigmoid", n_groups=4, n_limited_groups=2, topk=2, route_scale=1.0, norm_topk_prob=True
    )
    with pytest.raises(TypeError, match=r"logits.dtype=torch.float16"):
        route_triton(torch.randn(3, 8).half(), None, **kw)
    with pytest.raises(ValueError, match=r"bias.shape=\(7,\) does not match \[8\]"):
        route_triton(torch.randn(3, 8), torch.zeros(7), **kw)
    with pytest.raises(ValueError, match=r"topk=5 must be in"):
        route_triton(torch.randn(3, 8), None, **{**kw, "topk": 5})
    with pytest.raises(ValueError, match=r"score_func='relu' is unknown"):
        route_triton(torch.randn(3, 8), None, **{**kw, "score_func": "relu"})


def test_moe_errors() -> None:
    x, ids, w = torch.randn(3, 16), torch.zeros(3, 2, dtype=torch.long), torch.rand(3, 2)
    w1, w2 = torch.randn(4, 8, 16), torch.randn(4, 16, 8)
    with pytest.raises(ValueError, match=r"w2.shape=\(4, 8, 16\) does not match \[4, 16, 8\]"):
        moe_experts_triton(x, ids, w, w1, w1, w1)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, E=4\); got \[0, 9\]"):
        moe_experts_triton(x, ids + torch.tensor([0, 9]), w, w1, w2, w1)
    with pytest.raises(TypeError, match=r"w1.dtype=torch.float16"):
        moe_experts_triton(x, ids, w, w1.half(), w2, w1)


def test_mla_errors() -> None:
    q, qp, kv, pe = (
        torch.randn(1, 2, 3, 16),
        torch.randn(1, 2, 3, 4),
        torch.randn(1, 5, 16),
        torch.randn(1, 5, 4),
    )
    with pytest.raises(TypeError, match=r"mask.dtype=torch.float32"):
        mla_attention_triton(q, qp, kv, pe, 1.0, torch.ones(1, 2, 5))
    with pytest.raises(ValueError, match=r"mask.shape=\(1, 2, 4\) does not match \[\*, 2, 5\]"):
        mla_attention_triton(q, qp, kv, pe, 1.0, torch.ones(1, 2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"kv.shape=\(1, 5, 8\) does not match \[1, \*, 16\]"):
        mla_attention_triton(q, qp, kv[..., :8], pe, 1.0, None)


def test_fp8_and_logprobs_errors() -> None:
    with kernels.use("triton"):
        with pytest.raises(ValueError, match=r"multiple of 128"):
            kernels.act_quant(torch.randn(2, 100))
        with pytest.raises(TypeError, match=r"w_fp8.dtype=torch.float32"):
            kernels.weight_dequant(torch.randn(128, 128), torch.ones(1, 1))
        with pytest.raises(ValueError, match=r"b_scale.shape=\(1, 1\) does not match \[2, 1\]"):
            a = torch.randn(2, 128).to(FP8)
            kernels.fp8_gemm(a, torch.ones(2, 1), torch.randn(200, 128).to(FP8), torch.ones(1, 1))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, V=10\); got \[0, 10\]"):
        token_logprobs_triton(torch.randn(2, 10), torch.tensor([0, 10]))


@pytest.mark.integration
@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU-without-interpreter case")
def test_cpu_tensor_without_interpreter_explains_how_to_enable_it() -> None:
    code = (
        "import torch; from r1mini.kernels.rmsnorm_triton import rms_norm_triton; "
        "rms_norm_triton(torch.randn(2, 8), torch.ones(8), 1e-6)"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode != 0
    assert "Triton's interpreter is off" in run.stderr
    assert "r1mini.kernels.use('triton')" in run.stderr
