"""Compile every Triton kernel for the H200 (sm_90) without a GPU and report its resources.

For each kernel at the `mini` and 671B shapes, configured as its wrapper launches it: warps,
pipeline stages, shared memory, registers and spills. The check itself lives in `compile_check.py`
(what it compiles: `compile_launches.py`); this prints its table and exits non-zero when a kernel
exceeds the H200's shared memory per block or spills registers. Compiling proves that the kernels
lower to H200 machine code within those limits, not their speed or results on a GPU. Needs Triton
(Linux), imported when the subcommand runs, so the other benchmarks run without it.
"""

from __future__ import annotations

import argparse
import time

from r1mini.bench.device import H200_SHARED_LIMIT


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="mini,671b", help="comma-separated: mini, 671b")
    parser.add_argument("--only", default="", help="compile only kernels whose name contains this")
    parser.add_argument(
        "--candidates", action="store_true", help="also every autotuning candidate of the tuned kernels"
    )


def run(args: argparse.Namespace) -> None:
    import triton

    from r1mini.bench import compile_check

    sizes = args.sizes.split(",")
    for size in sizes:
        if size not in compile_check.SIZES:
            raise SystemExit(f"--sizes: {size!r} is unknown; choose from {sorted(compile_check.SIZES)}")
    print(
        f"triton {triton.__version__}, target sm_{compile_check.H200.arch} "
        f"(H200: {H200_SHARED_LIMIT} B shared memory per block), no GPU needed"
    )
    print(compile_check.HEADER)
    done: list[compile_check.Compiled] = []

    def show(c: compile_check.Compiled) -> None:
        print(compile_check.row(c, done), flush=True)
        done.append(c)

    start = time.perf_counter()
    compile_check.compile_all(sizes, args.only, on_done=show, candidates=args.candidates)
    failed = [c for c in done if c.problems]
    print(
        f"{len(done)} kernels compiled in {time.perf_counter() - start:.1f} s, "
        f"{len(failed)} over the H200's limits"
    )
    if failed:
        raise SystemExit(1)
