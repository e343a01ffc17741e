"""The model under `torch.compile` (TorchInductor), opt-in, and eager where it cannot compile.

Eager PyTorch runs every op of the forward as its own call, reading its operands from memory and
writing its result back: about 7,300 calls for a training step of the `mini` model and 2,800 for
one decoding step (r1mini/kernels/PERF.md). Inductor traces the forward (and, through autograd,
the backward) into a graph and generates code for it: the elementwise ops around the matmuls
(the norms, RoPE, SwiGLU, the router's scores) fuse into single passes, and a decoding step's many
small calls into a few. The price is compiling: tens of seconds at the first call and again at the
first new kind of call (a prefill, the first and second decoding steps, a new batch size), after
which the shapes that vary are traced symbolically. Hence opt-in: it pays where the same calls
repeat for minutes, and compiling alone outlasts many a chapter's run. `python -m r1mini.bench
compare --compile` measures the gain against `transformers` and TRL (README); `python -m r1mini
train | grpo | pipeline --compile` trains under it, and `bench recipes --compile` times the shipped
recipes so.

The model is written to trace whole: the input checks run on the host before the graph
(`Transformer.compile` leaves `_check_input` out of it), RoPE is written in reals while compiling
(`apply_rope`: inductor has no complex numbers), and the routed experts' grouped matmul is a
custom op the compiler can trace (`r1mini.kernels.grouped_mm`).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from r1mini.kernels import backend


def cannot_compile(device: torch.device) -> str | None:
    """Why the model cannot run under torch.compile on `device` here, or None when it can: on a
    CPU inductor needs a C++ compiler (`$CXX` or `g++`), and the kernels must be PyTorch's
    (`r1mini.kernels.use("triton")` runs the Triton kernels in Triton's interpreter, Python that
    torch.compile cannot trace); on a CUDA GPU inductor needs the triton package."""
    if device.type == "cpu":
        if backend.current() == "triton":
            return (
                "the Triton kernels run in Triton's interpreter on a CPU, which torch.compile cannot "
                "trace (choose the kernels 'torch' or 'auto' to compile)"
            )
        from torch._inductor import cpp_builder  # inductor's own search for a compiler

        try:
            cpp_builder.get_cpp_compiler()
        except Exception as error:  # its errors differ by platform and torch version
            return f"no C++ compiler for torch.compile on the CPU ({type(error).__name__}: {error})"
    elif device.type == "cuda" and not backend.triton_available():
        return "torch.compile on a CUDA GPU needs the triton package, which is not installed"
    return None


def compile_model(model: nn.Module, **options: object) -> bool:
    """Compile `model`'s forward in place (`nn.Module.compile`, with torch.compile's `options`)
    where it can be (`cannot_compile`); otherwise warn once, in one line, and leave the model
    eager. Returns whether it compiled. The outputs are the same either way, up to rounding
    (tests/test_compiled.py). A `Transformer` compiles through `Transformer.compile`."""
    device = next(model.parameters()).device
    reason = cannot_compile(device)
    if reason is not None:
        warnings.warn(f"{reason}; the model runs eagerly", RuntimeWarning, stacklevel=2)
        return False
    model.compile(**options)
    return True
