"""Every Triton kernel compiles for the H200 (sm_90), without a GPU, as its wrapper launches it.

`r1mini.kernels.compile_check` compiles each @triton.jit kernel with the constexprs and warps its
wrapper computes (`launch_config`, the GPU variant: no interpreter upcasts) at the 671B and `mini`
shapes the kernel bench uses, and every autotuning candidate of the tuned kernels (any of them may
be the one a GPU picks), down to a cubin with triton's bundled ptxas. A kernel fails if it does
not compile, uses more shared memory than an H200 block may, or spills registers. This says nothing
about speed or numerical results on a GPU (those need one).
"""

import importlib
import inspect
from pathlib import Path

import pytest
from triton.runtime.jit import JITFunction

from r1mini import kernels
from r1mini.kernels import compile_check

pytestmark = pytest.mark.compile

MODULES = [
    importlib.import_module(f"r1mini.kernels.{path.stem}")
    for path in sorted(Path(kernels.__file__).parent.glob("*_triton.py"))
]


def _kernels() -> set[str]:
    """Names of every @triton.jit kernel of the *_triton modules (interpreted or not): the jitted
    functions some wrapper launches with a grid, `kernel[grid](...)`. The others are device functions,
    compiled inside the kernels that call them."""
    sources = "".join(inspect.getsource(module) for module in MODULES)
    found = set()
    for module in MODULES:
        for name, obj in vars(module).items():
            jit = isinstance(obj, JITFunction) or type(obj).__name__ == "InterpretedFunction"
            if jit and inspect.getmodule(getattr(obj, "fn", None)) is module and f"{name}[" in sources:
                found.add(name.lstrip("_"))
    return found


def test_every_kernel_has_a_launch_at_both_sizes() -> None:
    checked_671b = {launch.name for launch in compile_check.launches("671b")}
    checked_mini = {launch.name for launch in compile_check.launches("mini")}
    assert _kernels() == checked_671b, "a kernel is missing from compile_check.launches"
    fp8 = {"act_quant", "weight_dequant", "fp8_gemm"}  # 128-wide blocks: 671B widths only
    assert _kernels() - fp8 == checked_mini


@pytest.mark.parametrize("size", ["671b", "mini"])
def test_kernels_compile_for_h200(size: str) -> None:
    done = compile_check.compile_all([size], candidates=True)
    assert [(c.name, c.shape) for c in done] == [
        (launch.name, launch.shape) for launch in compile_check.launches(size, candidates=True)
    ]
    report = "\n".join(compile_check.row(c, []) for c in done)
    for c in done:
        assert c.arch == "sm_90a" and c.cubin_bytes > 0, report
        assert c.shared <= compile_check.SHARED_LIMIT, report
        assert c.spill_stores == c.spill_loads == 0, report
        assert not c.problems, report
