"""Compile every Triton kernel for the H200 (sm_90) without a GPU, configured as its wrapper launches
it, and report what the machine code needs: warps, pipeline stages, shared memory, registers, spills.

Triton compiles ahead of time for a target named by hand: `triton.compile` lowers a kernel through
Triton IR, LLVM and PTX to a cubin with the `ptxas` bundled in the triton wheel; no GPU, no driver.
Each `Launch` is one kernel at one model size (the shapes `python -m r1mini.bench kernels` uses on a
GPU). Its constexprs and warps come from the wrapper's own `launch_config`/`gemm_config`, called
with `interpret=False`, so the GPU variant is compiled whatever the environment (bf16 operands go
to `tl.dot` as bf16, act_quant stores e4m3). Its other arguments are the ones the wrapper passes:
pointers by dtype, integers by value, bound by Triton's own launch binder, so they are specialised
as at a launch (an integer 1 becomes a constant, multiples of 16 are marked aligned).

Limits checked for the H200: dynamic shared memory within 227 KiB per block, and no register
spills (`ptxas -v` re-run on the kernel's PTX with the flags Triton uses). This proves the kernels
lower to H200 machine code within its resource limits; it proves neither their speed nor their
numerical results on the GPU.

Triton's interpreter cannot compile: with TRITON_INTERPRET=1, triton.language's own @jit helpers
(the combine function of `tl.sum`, ...) are interpreted functions too. `compile_all` then compiles
in a child process without it (`python -m r1mini.kernels.compile_check`, which prints JSON).

Uses triton internals (`create_function_from_signature`, `JITFunction._pack_args`, the launch path of
`JITFunction.run`); written against triton 3.9.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.backends.nvidia.compiler import get_ptxas, sm_arch_from_capability
from triton.compiler import ASTSource, make_backend
from triton.runtime.jit import JITFunction, MockTensor, create_function_from_signature

from r1mini.config import ModelConfig
from r1mini.fp8_format import BLOCK, FP8
from r1mini.kernels import (
    fp8_triton,
    logprobs_triton,
    mla_attention_backward_triton,
    mla_attention_triton,
    moe_experts_backward_triton,
    moe_experts_triton,
    rmsnorm_triton,
    router_triton,
)
from r1mini.kernels.checks import interpreting

H200 = GPUTarget("cuda", 90, 32)  # compute capability 9.0, 32-thread warps
H200_SMS = 132  # streaming multiprocessors: the split-KV choice of MLA decode depends on it
SHARED_LIMIT = 227 * 1024  # bytes of shared memory one block may use on sm_90 (opt-in maximum)
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
        return _jit(self.kernel).__name__.lstrip("_")


@dataclass
class Compiled:
    """What one launch compiled to (plain values, so it crosses a process boundary as JSON)."""

    name: str
    size: str
    shape: str
    arch: str
    num_warps: int
    num_stages: int
    shared: int  # bytes
    registers: int  # per thread
    spill_stores: int  # bytes
    spill_loads: int  # bytes
    seconds: float  # in triton.compile
    cubin_bytes: int
    hash: str  # Triton's hash of the compiled kernel: equal hashes, same binary
    problems: list[str] = field(default_factory=list)


def _jit(kernel: object) -> JITFunction:
    """The compilable JITFunction, also when TRITON_INTERPRET=1 made the kernel an interpreted one."""
    return kernel if isinstance(kernel, JITFunction) else JITFunction(kernel.fn)  # type: ignore[attr-defined]


def _ptxas_usage(ptx: str, fp_fusion: bool) -> tuple[int, int, int]:
    """(registers, spill store bytes, spill load bytes) of the PTX's kernel, from `ptxas -v`."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "kernel.ptx")
        with open(src, "w") as f:
            f.write(ptx)
        cmd = [
            get_ptxas(H200.arch).path,
            "-lineinfo",
            "-v",
            "--regAllocOptLevel=2",
            f"--gpu-name={sm_arch_from_capability(H200.arch)}",
            src,
            "-o",
            src + ".o",
        ]
        if not fp_fusion:
            cmd.insert(1, "--fmad=false")
        log = subprocess.run(cmd, check=True, capture_output=True, text=True).stderr
    regs = re.search(r"Used (\d+) registers", log)
    spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", log)
    if regs is None or spills is None:
        raise RuntimeError(f"could not read registers/spills from ptxas -v:\n{log}")
    return int(regs.group(1)), int(spills.group(1)), int(spills.group(2))


def compile_launch(launch: Launch) -> Compiled:
    """Compile one launch for the H200 the way `kernel[grid](*args, **config)` would on one."""
    fn = _jit(launch.kernel)
    backend = make_backend(H200)
    bind = create_function_from_signature(fn.signature, fn.params, backend)
    args = [MockTensor.wrap_dtype(a) for a in launch.args]
    # FP fusion as a launch gets it (Triton's default, on), named so triton 3.9 does not warn
    config = {"enable_fp_fusion": triton.knobs.language.default_fp_fusion, **launch.config}
    bound, specialization, options = bind(*args, **config)
    options, signature, constexprs, attrs = fn._pack_args(backend, config, bound, specialization, options)
    start = time.perf_counter()
    kernel = triton.compile(
        ASTSource(fn, signature, constexprs, attrs), target=H200, options=options.__dict__
    )
    seconds = time.perf_counter() - start
    md, cubin = kernel.metadata, kernel.asm.get("cubin", b"")
    regs, stores, loads = _ptxas_usage(kernel.asm["ptx"], md.enable_fp_fusion)
    done = Compiled(
        launch.name,
        launch.size,
        launch.shape,
        sm_arch_from_capability(md.target.arch),
        md.num_warps,
        md.num_stages,
        md.shared,
        regs,
        stores,
        loads,
        seconds,
        len(cubin),
        md.hash,
    )
    if md.shared > SHARED_LIMIT:
        done.problems.append(f"shared memory {md.shared} B > {SHARED_LIMIT} B")
    if stores or loads:
        done.problems.append(f"register spills: {stores} B stored, {loads} B loaded")
    if not cubin:
        done.problems.append("no cubin")
    return done


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
        for o in tuned(moe_experts_triton.candidates(*shape)):
            moe = moe_experts_triton.launch_config(*shape, **o)
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
        n_tiles = triton.cdiv(inter, bwd["swiglu"]["BLOCK_N"])
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
        for o in tuned(mla_attention_triton.candidates(b, n_t, h, S, kv_c, rope, **fixed)):
            mla = mla_attention_triton.launch_config(b, n_t, h, S, kv_c, rope, **{**fixed, **o})
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
        quant_out = fp8_triton.act_quant_store_dtype(interpret=False)
        add(fp8_triton._act_quant, f"[{tokens}, {d}] bf16 -> e4m3", (bf16, quant_out, f32), {"BLOCK": BLOCK})
        add(
            fp8_triton._weight_dequant,
            f"[{n_out}, {d}] e4m3 -> bf16",
            (FP8, f32, bf16, n_out, d),
            {"BLOCK": BLOCK},
        )
        for m, note in ((tokens, ""), (64, " (decode)")):
            for o in tuned(fp8_triton.gemm_candidates(m, interpret=False)):
                add(
                    fp8_triton._fp8_gemm,
                    f"[{m}, {d}] x [{n_out}, {d}]ᵀ{note}{_label(o)}",
                    (FP8, FP8, bf16, f32, f32, m, n_out, d),
                    fp8_triton.gemm_config(m, interpret=False, **o),
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


@contextmanager
def fresh_cache() -> Iterator[None]:
    """Compile into an empty, temporary Triton cache, so every kernel is really compiled (and timed)."""
    with tempfile.TemporaryDirectory() as tmp, triton.knobs.cache.scope():
        triton.knobs.cache.dir = tmp
        yield


def compile_all(
    sizes: list[str],
    only: str = "",
    on_done: Callable[[Compiled], None] | None = None,
    candidates: bool = False,
) -> list[Compiled]:
    """Compile every launch of these sizes (kernel names containing `only`; every autotuning
    candidate with `candidates`), in a fresh cache; `on_done` sees each result as it comes (all at
    the end when compiling in a child process)."""
    for size in sizes:
        if size not in SIZES:
            raise ValueError(f"size {size!r} is unknown; choose from {sorted(SIZES)}")
    if interpreting():
        done = _compile_in_child(sizes, only, candidates)
        if on_done is not None:
            for c in done:
                on_done(c)
        return done
    done: list[Compiled] = []
    with fresh_cache():
        for size in sizes:
            for launch in launches(size, candidates):
                if only in launch.name:
                    done.append(compile_launch(launch))
                    if on_done is not None:
                        on_done(done[-1])
    return done


HEADER = (
    f"{'kernel':15} {'size':5} {'target':7} {'warps':>5} {'stages':>6} {'shared B':>8} "
    f"{'regs':>4} {'spill B':>7} {'compile s':>9}  {'status':6} shape"
)


def row(c: Compiled, earlier: list[Compiled]) -> str:
    """One line of the table (`HEADER`); a kernel already compiled by one of the `earlier` launches
    (same specialisation, same binary) came from the cache and shows no compile time."""
    cached = any(e.hash == c.hash for e in earlier)
    seconds = f"{'cached':>9}" if cached else f"{c.seconds:9.2f}"
    status = "ok" if not c.problems else "FAIL: " + "; ".join(c.problems)
    spills = c.spill_stores + c.spill_loads
    return (
        f"{c.name:15} {c.size:5} {c.arch:7} {c.num_warps:5} {c.num_stages:6} "
        f"{c.shared:8} {c.registers:4} {spills:7} {seconds}  {status:6} "
        f"{c.shape}"
    )


def _compile_in_child(sizes: list[str], only: str, candidates: bool) -> list[Compiled]:
    """`compile_all` in a Python without TRITON_INTERPRET (see the module docstring)."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    cmd = [sys.executable, "-m", "r1mini.kernels.compile_check", ",".join(sizes), only]
    cmd += ["--candidates"] if candidates else []
    child = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if child.returncode != 0:
        raise RuntimeError(f"compiling in a child process failed:\n{child.stdout[-4000:]}{child.stderr}")
    return [Compiled(**fields) for fields in json.loads(child.stdout)]


if __name__ == "__main__":  # python -m r1mini.kernels.compile_check SIZES ONLY [--candidates]: JSON
    results = compile_all(sys.argv[1].split(","), sys.argv[2], candidates="--candidates" in sys.argv)
    print(json.dumps([asdict(c) for c in results]))
