"""Every Triton kernel compiles for the H200 (sm_90), without a GPU, as its wrapper launches it.

`r1mini.bench.compile_check` compiles each @triton.jit kernel with the constexprs and warps its
wrapper computes (`launch_config`, the GPU variant: no interpreter upcasts) at the 671B and `mini`
shapes the kernel bench uses, and every autotuning candidate of the tuned kernels (any of them may
be the one a GPU picks), down to a cubin with triton's bundled ptxas. A kernel fails if it does
not compile, uses more shared memory than an H200 block may, or spills registers. This says nothing
about speed or numerical results on a GPU (those need one).
"""

import ast
import importlib
import inspect
import pkgutil

import pytest

pytest.importorskip("triton", reason="Triton kernels: Triton ships for Linux only")

from triton.runtime.jit import JITFunction

from r1mini import kernels
from r1mini.bench import compile_check, compile_launches
from r1mini.bench.device import H200_SHARED_LIMIT

pytestmark = pytest.mark.compile

MODULES = [
    importlib.import_module(f"r1mini.kernels.{info.name}")
    for info in pkgutil.iter_modules(kernels.__path__)
    if info.name.endswith("_triton")
]


def _jitted() -> dict[str, object]:
    """Every @triton.jit function defined in the *_triton modules (interpreted or not), by name."""
    found = {}
    for module in MODULES:
        for name, obj in vars(module).items():
            jit = isinstance(obj, JITFunction) or type(obj).__name__ == "InterpretedFunction"
            if jit and inspect.getmodule(obj.fn) is module:
                found[name] = obj
    return found


def _kernels() -> set[str]:
    """The jitted functions no jitted function calls: those are launched by a wrapper. A function
    another one calls is a device function, compiled inside its caller (found from the calls in
    each function's syntax tree, resolved in its module: not from a text search)."""
    jitted = _jitted()
    called = set()
    for obj in jitted.values():
        tree = ast.parse(inspect.getsource(obj.fn).lstrip())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                target = obj.fn.__globals__.get(node.func.id)
                called |= {name for name, other in jitted.items() if other is target}
    return {name.lstrip("_") for name in jitted.keys() - called}


def test_kernels_are_found_from_the_call_graph() -> None:
    kernels_found = _kernels()
    assert {"gate_up", "down", "mla_fwd", "merge_splits", "fp8_gemm", "rms_norm_bwd"} <= kernels_found
    assert not {"block_rows", "load_rows", "load_cache", "scores_to_p"} & kernels_found  # device functions


def test_every_kernel_has_a_launch_at_both_sizes() -> None:
    checked_671b = {launch.name for launch in compile_launches.launches("671b")}
    checked_mini = {launch.name for launch in compile_launches.launches("mini")}
    assert _kernels() == checked_671b, "a kernel is missing from compile_launches.launches"
    fp8 = {"act_quant", "weight_dequant", "fp8_gemm"}  # 128-wide blocks: 671B widths only
    assert _kernels() - fp8 == checked_mini


@pytest.mark.parametrize("size", ["671b", "mini"])
def test_kernels_compile_for_h200(size: str) -> None:
    done = compile_check.compile_all([size], candidates=True)
    assert [(c.name, c.shape) for c in done] == [
        (launch.name, launch.shape) for launch in compile_launches.launches(size, candidates=True)
    ]
    report = "\n".join(compile_check.row(c, []) for c in done)
    for c in done:
        assert c.arch == "sm_90a" and c.cubin_bytes > 0, report
        assert c.shared <= H200_SHARED_LIMIT, report
        assert c.spill_stores == c.spill_loads == 0, report
        assert not c.problems, report
