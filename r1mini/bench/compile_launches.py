"""What the compile check compiles (`compile_check`): every Triton kernel of `r1mini.kernels` at
the `mini` and 671B shapes `python -m r1mini.bench kernels` uses on a GPU, each configured as its
wrapper launches it.

A `Launch` is one kernel with the arguments in its parameter order (a torch dtype stands for a
pointer to that dtype, integers are passed by value) and its config (constexprs, warps, stages),
from the wrapper's own launch plan (`launch_config`, `gemm_config`, `backward_config`) called with
`interpret=False`: the GPU variant is compiled whatever the environment (bf16 operands go to
`tl.dot` as bf16, act_quant stores e4m3). With `candidates`, the autotuned kernels (MoE experts,
MLA, FP8 GEMM) come once per autotuning candidate: any of them may be the one a GPU picks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from triton.runtime.jit import JITFunction

from r1mini.bench.device import H200_SMS
from r1mini.config import ModelConfig
from r1mini.fp8_format import BLOCK, FP8
from r1mini.kernels import (
    fp8_launch,
    fp8_triton,
    logprobs_triton,
    mla_attention_backward_triton,
    mla_attention_launch,
    mla_attention_triton,
    moe_experts_backward_triton,
    moe_experts_launch,
    moe_experts_triton,
    rmsnorm_triton,
    router_triton,
)
from r1mini.kernels.checks import cdiv

SIZES = {"mini": "mini", "671b": "deepseek-v3-671b"}

bf16, f32, i64, u8 = torch.bfloat16, torch.float32, torch.int64, torch.uint8


@dataclass
class Launch:
    """One kernel launch as its wrapper would make it: the kernel, the arguments in its parameter
    order (a torch dtype stands for a pointer to that dtype) and the config (constexprs, warps)."""

    kernel: object  # a @triton.jit function (JITFunction, or InterpretedFunction when interpreting)
    size: str
    shape: str
    args: tuple
    config: dict

    @property
    def name(self) -> str:
        return jit_function(self.kernel).__name__.lstrip("_")


def jit_function(kernel: object) -> JITFunction:
    """The compilable JITFunction, also when TRITON_INTERPRET=1 made the kernel an interpreted one."""
    return kernel if isinstance(kernel, JITFunction) else JITFunction(kernel.fn)  # type: ignore[attr-defined]


def _label(overrides: dict) -> str:
    """How a candidate's overrides show in the table: "" for the default."""
    return "" if not overrides else " {" + ", ".join(f"{k}={v}" for k, v in overrides.items()) + "}"


def launches(size: str, candidates: bool = False) -> list[Launch]:
    """Every kernel at one model size, at the shapes the kernel bench uses on a GPU, configured as
    its wrapper launches it by default; with `candidates`, the tuned kernels (MoE experts, MLA, FP8
    GEMM) once per autotuning candidate (`tuning.py`), its overrides shown after the shape."""
    c = ModelConfig.preset(SIZES[size])
    full = size == "671b"
    tokens = 4096
    d, vocab = c.dim, c.vocab_size
    rows: list[Launch] = []

    def add(kernel: object, shape: str, args: tuple, config: dict) -> None:
        rows.append(Launch(kernel, size, shape, args, config))

    def tuned(found: list[dict]) -> list[dict]:
        return found if candidates else found[:1]

    norm = rmsnorm_triton.launch_config(d)
    add(rmsnorm_triton._rms_norm_fwd, f"[{tokens}, {d}] bf16", (bf16, bf16, bf16, f32, d, 1e-6), norm)
    add(
        rmsnorm_triton._rms_norm_bwd,
        f"[{tokens}, {d}] bf16, {4 * H200_SMS} programs",
        (bf16, bf16, bf16, f32, bf16, f32, tokens, d),
        norm,
    )

    e, k, groups = c.n_routed_experts, c.n_activated_experts, c.n_expert_groups
    per_group = e // groups
    route = router_triton.launch_config(groups, per_group, c.n_limited_groups, k, True)
    add(
        router_triton._choose_experts,
        f"[{tokens}, {e}], {groups} groups, top-{k}",
        (f32, f32, i64, e, per_group),
        route,
    )

    inter = c.moe_inter_dim
    moe_tokens = [(tokens, "")] + ([(64, " (decode)")] if full else [])  # decode: 64 tokens
    for n_tok, note in moe_tokens:
        n_pairs = n_tok * k
        shape = (n_pairs, e, d, inter, bf16, False)
        for o in tuned(moe_experts_launch.candidates(*shape)):
            moe = moe_experts_launch.launch_config(*shape, **o)
            moe_shape = f"{n_tok} tok x top-{k} of {e}, {d}->{inter}{note}{_label(o)}"
            add(
                moe_experts_triton._gate_up,
                moe_shape,
                (bf16, bf16, bf16, bf16, i64, i64, n_pairs, k, d, inter),
                moe["gate_up"],
            )
            add(
                moe_experts_triton._down,
                moe_shape,
                (bf16, bf16, bf16, f32, i64, i64, n_pairs, d, inter),
                moe["down"],
            )
        if note:  # the backward runs in training, at the full token count only
            continue
        bwd = moe_experts_backward_triton.backward_config(moe["block_m"], d, inter, bf16, interpret=False)
        n_tiles = cdiv(inter, bwd["swiglu"]["BLOCK_N"])
        bwd_shape = f"{n_tok} tok x top-{k} of {e}, {d}->{inter}, backward"
        add(
            moe_experts_backward_triton._swiglu_bwd,
            bwd_shape,
            (bf16, bf16, bf16, bf16, bf16, f32, i64, bf16, bf16, bf16, f32, d, inter, n_tiles),
            bwd["swiglu"],
        )
        add(
            moe_experts_backward_triton._dx,
            bwd_shape,
            (bf16, bf16, bf16, bf16, bf16, i64, i64, n_pairs, d, inter),
            bwd["dx"],
        )
        for m, n, what in ((inter, d, "dw1, dw3"), (d, inter, "dw2")):
            tiles = moe_experts_backward_triton.grad_tiles(m, n, bwd["grad"])
            add(
                moe_experts_backward_triton._expert_grad,
                f"{bwd_shape}: {what} [{e}, {m}, {n}]",
                (bf16, bf16, bf16, i64, m, n),
                tiles,
            )

    h, kv_c, rope = c.n_heads, c.kv_lora_rank, c.qk_rope_head_dim
    scale = c.qk_head_dim**-0.5
    batch, ctx = 64, 8192 if full else c.max_seq_len
    prefill_t = 4096 if full else c.max_seq_len
    for what, (b, n_t, S, masked) in {
        "decode": (batch, 1, ctx, False),
        "prefill": (1, prefill_t, prefill_t, True),
    }.items():
        fixed = dict(dtypes=(bf16, bf16), has_mask=masked, interpret=False, sm_count=H200_SMS)
        for o in tuned(mla_attention_launch.candidates(b, n_t, h, S, kv_c, rope, **fixed)):
            mla = mla_attention_launch.launch_config(b, n_t, h, S, kv_c, rope, **{**fixed, **o})
            splits, n_rows = mla["splits"], n_t * h
            part = bf16 if splits == 1 else f32  # one split writes out directly, else fp32 partials
            shape = f"{what} B={b} T={n_t} S={S} H={h} C={kv_c}+{rope}, {splits} split(s){_label(o)}"
            add(
                mla_attention_triton._mla_fwd,
                shape,
                (
                    bf16,
                    bf16,
                    bf16,
                    bf16,
                    u8 if masked else bf16,
                    part,
                    f32,
                    n_rows,
                    h,
                    S,
                    kv_c,
                    rope,
                    mla["split_len"],
                    splits,
                    scale,
                    S * kv_c,
                    kv_c,
                    S * rope,
                    rope,
                    0,
                    S,
                ),
                mla["fwd"],
            )
            if mla["merge"] is not None:
                add(
                    mla_attention_triton._merge_splits,
                    shape,
                    (f32, f32, bf16, f32, splits, kv_c),
                    mla["merge"],
                )

    n_rows = prefill_t * h  # the backward runs in training: a causal prefill
    bwd = mla_attention_backward_triton.backward_config(
        n_rows, prefill_t, kv_c, rope, dtypes=(bf16, bf16), has_mask=True, interpret=False
    )
    bwd_args = (
        bf16,
        bf16,
        bf16,
        bf16,
        u8,
        bf16,
        f32,
        f32,
        bf16,
        bf16,
        n_rows,
        h,
        prefill_t,
        kv_c,
        rope,
        scale,
        prefill_t * kv_c,
        kv_c,
        prefill_t * rope,
        rope,
        0,
        prefill_t,
    )
    bwd_shape = f"backward B=1 T=S={prefill_t} H={h} C={kv_c}+{rope}, causal"
    add(mla_attention_backward_triton._mla_bwd_dq, bwd_shape, bwd_args, bwd["dq"])
    add(mla_attention_backward_triton._mla_bwd_dkv, bwd_shape, bwd_args, bwd["dkv"])

    logp = logprobs_triton.launch_config(vocab, interpret=False)
    add(logprobs_triton._logprobs_fwd, f"[{tokens}, {vocab}] bf16", (bf16, i64, f32, f32, vocab), logp)
    add(logprobs_triton._logprobs_bwd, f"[{tokens}, {vocab}] bf16", (bf16, i64, f32, f32, bf16, vocab), logp)

    if full:  # FP8 blocks are 128 wide: the miniature widths are not multiples of 128
        n_out = 2048
        quant_out = fp8_launch.act_quant_store_dtype(interpret=False)
        add(fp8_triton._act_quant, f"[{tokens}, {d}] bf16 -> e4m3", (bf16, quant_out, f32), {"BLOCK": BLOCK})
        add(
            fp8_triton._weight_dequant,
            f"[{n_out}, {d}] e4m3 -> bf16",
            (FP8, f32, bf16, n_out, d),
            {"BLOCK": BLOCK},
        )
        for m, note in ((tokens, ""), (64, " (decode)")):
            for o in tuned(fp8_launch.gemm_candidates(m, interpret=False)):
                add(
                    fp8_triton._fp8_gemm,
                    f"[{m}, {d}] x [{n_out}, {d}]ᵀ{note}{_label(o)}",
                    (FP8, FP8, bf16, f32, f32, m, n_out, d),
                    fp8_launch.gemm_config(m, interpret=False, **o),
                )
        # decode-time launches pick other tiles: the norms on MLA's latents (q_lora_rank and
        # kv_lora_rank wide); few tokens through the experts and the FP8 GEMM are above
        for width in (c.q_lora_rank, c.kv_lora_rank):
            add(
                rmsnorm_triton._rms_norm_fwd,
                f"[{tokens}, {width}] bf16 (latent)",
                (bf16, bf16, bf16, f32, width, 1e-6),
                rmsnorm_triton.launch_config(width),
            )
    return rows
