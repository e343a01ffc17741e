"""Kernel benchmark: every Triton kernel next to its PyTorch reference, at `mini` and 671B shapes.

On a GPU each row shows both times, the kernel's achieved rate (GB/s for the memory-bound kernels,
TFLOP/s for the GEMMs) and that rate as a fraction of the measured ceiling (`device.py`). On a CPU the
Triton kernels run in the interpreter, whose times say nothing about speed: the rows then show the
correctness check (max abs error against the reference, divided by the reference's max
abs value) and the reference's time, at shapes the
interpreter can afford (full-size widths, few tokens). Sizes come from `ModelConfig` presets.
The "f+b" rows time a forward and backward (the gradients of every floating-point input for one
fixed output gradient) and judge the first gradient; on a CPU the MoE one runs at `mini` size only.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from r1mini.bench.device import (
    enable_interpreter_without_gpu,
    measure_ceilings,
    on_gpu,
    time_ms,
)
from r1mini.config import ModelConfig

Inputs = tuple
SIZES = {"mini": "mini", "671b": "deepseek-v3-671b"}


@dataclass
class Case:
    """One benchmark row: a kernel at one model size."""

    kernel: str
    size: str
    shape: str  # for the table
    inputs: Callable[[], Inputs]
    triton: Callable[..., object]
    reference: Callable[..., object]
    work: float  # bytes moved (rate in GB/s) or floating-point operations (TFLOP/s)
    unit: str  # "GB/s" or "TFLOP/s"


def _first(out: object) -> torch.Tensor:
    """The tensor a kernel is judged by (the first of a tuple)."""
    return out[0] if isinstance(out, tuple) else out  # type: ignore[return-value]


def _with_backward(op: Callable[..., object]) -> Callable[..., tuple[torch.Tensor, ...]]:
    """`op`'s forward and backward: the gradients of its (first) output, for a fixed random output
    gradient, with respect to every floating-point input tensor."""

    def run(*inputs: object) -> tuple[torch.Tensor, ...]:
        leaves = [
            t.detach().requires_grad_() if isinstance(t, torch.Tensor) and t.is_floating_point() else t
            for t in inputs
        ]
        out = _first(op(*leaves))
        dout = torch.randn(
            out.shape, generator=torch.Generator(out.device).manual_seed(0), device=out.device
        ).to(out.dtype)
        wanted = [t for t in leaves if isinstance(t, torch.Tensor) and t.requires_grad]
        return torch.autograd.grad(out, wanted, dout)

    return run


def _cases(size: str, gpu: bool) -> list[Case]:
    """The rows for one model size; `gpu` picks the real shapes, else interpreter-sized ones."""
    from r1mini import kernels as K
    from r1mini.kernels.fp8_triton import act_quant_triton, fp8_gemm_triton, weight_dequant_triton
    from r1mini.kernels.logprobs_triton import token_logprobs_triton
    from r1mini.kernels.mla_attention_triton import mla_attention_triton
    from r1mini.kernels.moe_experts_triton import moe_experts_triton
    from r1mini.kernels.rmsnorm_triton import rms_norm_triton
    from r1mini.kernels.router_triton import route_triton

    c = ModelConfig.preset(SIZES[size])
    dev = "cuda" if gpu else "cpu"
    bf16 = torch.bfloat16
    tokens = 4096 if gpu else (32 if size == "mini" else 2)
    full = size == "671b"

    def randn(*shape: int, dtype: torch.dtype = bf16, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, device=dev) * scale).to(dtype)

    d, e, k, inter = c.dim, c.n_routed_experts, c.n_activated_experts, c.moe_inter_dim
    router_e = e
    route_kw = dict(
        score_func=c.score_func,
        n_groups=c.n_expert_groups,
        n_limited_groups=c.n_limited_groups,
        topk=k,
        route_scale=c.route_scale,
        norm_topk_prob=c.norm_topk_prob,
    )
    moe_tokens = tokens if gpu else (32 if size == "mini" else 1)
    if not gpu:  # 256 full-size experts are 11 GB of bf16 weights: on a CPU keep k of them
        e = min(e, max(k, 8))
    h, kv_c, rope = c.n_heads, c.kv_lora_rank, c.qk_rope_head_dim
    batch, ctx = (64, 8192 if full else c.max_seq_len) if gpu else (2, 64)
    prefill_t = (4096 if full else c.max_seq_len) if gpu else 16
    causal = torch.ones(prefill_t, prefill_t, dtype=torch.bool, device=dev).tril()[None]
    scale = c.qk_head_dim**-0.5
    vocab = c.vocab_size

    def moe_inputs() -> Inputs:
        return (
            randn(moe_tokens, d),
            torch.stack([torch.randperm(e, device=dev)[:k] for _ in range(moe_tokens)]),
            torch.rand(moe_tokens, k, device=dev),
            randn(e, inter, d, scale=d**-0.5),
            randn(e, d, inter, scale=inter**-0.5),
            randn(e, inter, d, scale=d**-0.5),
        )

    def prefill_inputs() -> Inputs:
        return (
            randn(1, prefill_t, h, kv_c),
            randn(1, prefill_t, h, rope),
            randn(1, prefill_t, kv_c),
            randn(1, prefill_t, rope),
            scale,
            causal,
        )

    rows: list[Case] = [
        Case(
            "rms_norm",
            size,
            f"[{tokens}, {d}] bf16",
            lambda: (randn(tokens, d), randn(d), 1e-6),
            rms_norm_triton,
            K.rms_norm_reference,
            2 * 2 * tokens * d,
            "GB/s",
        ),
        Case(
            "route",
            size,
            f"[{tokens}, {router_e}] fp32, top-{k}",
            lambda: (
                randn(tokens, router_e, dtype=torch.float32),
                randn(router_e, dtype=torch.float32, scale=0.1),
            ),
            lambda lg, b: route_triton(lg, b, **route_kw),
            lambda lg, b: K.route_reference(lg, b, **route_kw),
            4 * tokens * router_e * 2 + 12 * tokens * k,
            "GB/s",
        ),
        Case(
            "moe_experts",
            size,
            f"{moe_tokens} tok x top-{k} of {e}, {d}->{inter}",
            moe_inputs,
            moe_experts_triton,
            K.moe_experts_reference,
            2 * moe_tokens * k * 3 * d * inter,
            "TFLOP/s",
        ),
        Case(
            "mla decode",
            size,
            f"B={batch} S={ctx} H={h} C={kv_c}+{rope}",
            lambda: (
                randn(batch, 1, h, kv_c),
                randn(batch, 1, h, rope),
                randn(batch, ctx, kv_c),
                randn(batch, ctx, rope),
                scale,
                None,
            ),
            mla_attention_triton,
            K.mla_attention_reference,
            2 * batch * ctx * (kv_c + rope),
            "GB/s",
        ),
        Case(
            "mla prefill",
            size,
            f"B=1 T=S={prefill_t} H={h} causal",
            prefill_inputs,
            mla_attention_triton,
            K.mla_attention_reference,
            2 * h * prefill_t * prefill_t * (2 * kv_c + rope) / 2,
            "TFLOP/s",
        ),
        Case(
            "token_logprobs",
            size,
            f"[{tokens}, {vocab}] bf16",
            lambda: (randn(tokens, vocab, scale=3.0), torch.randint(0, vocab, (tokens,), device=dev)),
            token_logprobs_triton,
            K.token_logprobs_reference,
            2 * tokens * vocab,
            "GB/s",
        ),
    ]
    rows.append(
        Case(
            "mla prefill f+b",
            size,
            f"B=1 T=S={prefill_t} H={h} causal, grads",
            prefill_inputs,
            _with_backward(mla_attention_triton),
            _with_backward(K.mla_attention_reference),
            3.5 * 2 * h * prefill_t * prefill_t * (2 * kv_c + rope) / 2,
            "TFLOP/s",
        )
    )
    if gpu or not full:  # the interpreter needs minutes for one 671B expert's weight gradients
        rows.append(
            Case(
                "moe fwd+bwd",
                size,
                f"{moe_tokens} tok x top-{k} of {e}, grads of x, g, w",
                moe_inputs,
                _with_backward(moe_experts_triton),
                _with_backward(K.moe_experts_reference),
                3 * 2 * moe_tokens * k * 3 * d * inter,
                "TFLOP/s",
            )
        )
    if full:  # FP8 blocks are 128 wide: the miniature widths are not multiples of 128
        n_out = 2048 if gpu else 256
        rows += [
            Case(
                "act_quant",
                size,
                f"[{tokens}, {d}] bf16 -> e4m3",
                lambda: (randn(tokens, d),),
                act_quant_triton,
                K.act_quant_reference,
                tokens * d * (2 + 1),
                "GB/s",
            ),
            Case(
                "weight_dequant",
                size,
                f"[{n_out}, {d}] e4m3 -> bf16",
                lambda: (
                    randn(n_out, d, dtype=torch.float8_e4m3fn),
                    torch.rand(n_out // 128, d // 128, device=dev),
                ),
                weight_dequant_triton,
                K.weight_dequant_reference,
                n_out * d * (1 + 2),
                "GB/s",
            ),
            Case(
                "fp8_gemm",
                size,
                f"[{tokens}, {d}] x [{n_out}, {d}]ᵀ",
                lambda: (
                    *K.act_quant_reference(randn(tokens, d)),
                    randn(n_out, d, dtype=torch.float8_e4m3fn),
                    torch.rand(n_out // 128, d // 128, device=dev),
                ),
                fp8_gemm_triton,
                K.fp8_gemm_reference,
                2 * tokens * n_out * d,
                "TFLOP/s",
            ),
        ]
    return rows


def _overrides(chosen: dict) -> str:
    """An autotuned choice as the table shows it: the wrapper's default, or what it overrides."""
    return "default" if not chosen else ",".join(f"{k}={v}" for k, v in chosen.items())


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="mini,671b", help="comma-separated: mini, 671b")
    parser.add_argument("--only", default="", help="run only kernels whose name contains this")


def run(args: argparse.Namespace) -> None:
    enable_interpreter_without_gpu()
    from r1mini.kernels.tuning import TUNER  # imports triton: after the interpreter switch

    gpu = on_gpu()
    if gpu:
        ceil = measure_ceilings()
        print(
            f"device: {torch.cuda.get_device_name()}; measured copy {ceil.copy_gbps:.0f} GB/s, "
            f"dense bf16 matmul {ceil.matmul_tflops:.0f} TFLOP/s"
        )
        head = f"{'kernel':15} {'size':5} {'shape':38} {'triton ms':>10} {'torch ms':>9} "
        print(
            head + f"{'speedup':>8} {'achieved':>16} {'of ceiling':>10} {'max rel err':>11}  "
            "autotuned config (- = untuned)"
        )
    else:
        print("no GPU: Triton runs in its interpreter; interpreter times are not speeds")
        head = f"{'kernel':15} {'size':5} {'shape':38} {'max rel err':>11} {'torch ms':>9}"
        print(head + f" {'interp. ms (not a speed)':>25}")
    for size in args.sizes.split(","):
        if size not in SIZES:
            raise SystemExit(f"--sizes: {size!r} is unknown; choose from {sorted(SIZES)}")
        for case in _cases(size, gpu):
            if args.only and args.only not in case.kernel:
                continue
            torch.manual_seed(0)
            inputs = case.inputs()
            known = set(TUNER.best)
            start = time.perf_counter()
            got = _first(case.triton(*inputs))  # on a GPU it tunes; on a CPU it is the one timed call
            first_ms = 1e3 * (time.perf_counter() - start)
            chosen = [TUNER.best[key] for key in TUNER.best.keys() - known]  # what this call tuned
            want = _first(case.reference(*inputs)).float()
            err = ((got.float() - want).abs().max() / want.abs().max()).item()  # relative to max|ref|
            ref_ms = time_ms(lambda case=case, inputs=inputs: case.reference(*inputs))
            tri_ms = time_ms(lambda case=case, inputs=inputs: case.triton(*inputs)) if gpu else first_ms
            row = f"{case.kernel:15} {case.size:5} {case.shape:38}"
            if gpu:
                scale = 1e6 if case.unit == "GB/s" else 1e9
                rate = case.work / tri_ms / scale
                top = ceil.copy_gbps if case.unit == "GB/s" else ceil.matmul_tflops
                tuned = " ".join(_overrides(c) for c in chosen) or "-"
                print(
                    f"{row} {tri_ms:10.3f} {ref_ms:9.3f} {ref_ms / tri_ms:7.2f}x "
                    f"{rate:8.1f} {case.unit:7} {rate / top:9.0%} {err:11.2e}  {tuned}"
                )
            else:
                print(f"{row} {err:11.2e} {ref_ms:9.2f} {tri_ms:25.1f}")
