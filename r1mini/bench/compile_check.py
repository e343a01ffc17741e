"""Compile every Triton kernel for the H200 (sm_90) without a GPU, configured as its wrapper launches
it, and report what the machine code needs: warps, pipeline stages, shared memory, registers, spills.

Triton compiles ahead of time for a target named by hand: `triton.compile` lowers a kernel through
Triton IR, LLVM and PTX to a cubin with the `ptxas` bundled in the triton wheel; no GPU, no driver.
What is compiled comes from `compile_launches.launches`: each `Launch` is one kernel at one model
size, with the wrapper's own launch config and arguments, bound by Triton's own launch binder, so
they are specialised as at a launch (an integer 1 becomes a constant, multiples of 16 are marked
aligned).

Limits checked for the H200: dynamic shared memory within 227 KiB per block, and no register
spills (`ptxas -v` re-run on the kernel's PTX with the flags Triton uses). This proves the kernels
lower to H200 machine code within its resource limits; it proves neither their speed nor their
numerical results on the GPU.

Triton's interpreter cannot compile: with TRITON_INTERPRET=1, triton.language's own @jit helpers
(the combine function of `tl.sum`, ...) are interpreted functions too. `compile_all` then compiles
in a child process without it (`python -m r1mini.bench.compile_check`, which prints JSON).

A development tool, not part of the model: it lives in `r1mini.bench`, beside the benchmark that
prints its table (`python -m r1mini.bench compile`). Uses triton internals
(`create_function_from_signature`, `JITFunction._pack_args`, the launch path of `JITFunction.run`);
written against triton 3.9.
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

import triton
from triton.backends.compiler import GPUTarget
from triton.backends.nvidia.compiler import get_ptxas, sm_arch_from_capability
from triton.compiler import ASTSource, make_backend
from triton.runtime.jit import MockTensor, create_function_from_signature

from r1mini.bench.compile_launches import SIZES, Launch, jit_function, launches
from r1mini.bench.device import H200_SHARED_LIMIT
from r1mini.kernels.checks import interpreting

H200 = GPUTarget("cuda", 90, 32)  # compute capability 9.0, 32-thread warps


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
    fn = jit_function(launch.kernel)
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
    if md.shared > H200_SHARED_LIMIT:
        done.problems.append(f"shared memory {md.shared} B > {H200_SHARED_LIMIT} B")
    if stores or loads:
        done.problems.append(f"register spills: {stores} B stored, {loads} B loaded")
    if not cubin:
        done.problems.append("no cubin")
    return done


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
    cmd = [sys.executable, "-m", "r1mini.bench.compile_check", ",".join(sizes), only]
    cmd += ["--candidates"] if candidates else []
    child = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if child.returncode != 0:
        raise RuntimeError(f"compiling in a child process failed:\n{child.stdout[-4000:]}{child.stderr}")
    return [Compiled(**fields) for fields in json.loads(child.stdout)]


if __name__ == "__main__":  # python -m r1mini.bench.compile_check SIZES ONLY [--candidates]: JSON
    results = compile_all(sys.argv[1].split(","), sys.argv[2], candidates="--candidates" in sys.argv)
    print(json.dumps([asdict(c) for c in results]))
