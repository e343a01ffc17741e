"""RMSNorm in Triton, forward and backward (the norm before every block of DeepSeek-V3 and on MLA's
compressed latents, V3 paper §2.1.1).

Forward, one program per row: `r = rsqrt(mean(x²) + eps)`, `y = w * (x·r)`; `r` is saved for
backward. Backward, with `x̂ = x·r` and `g = dy * w`:
    dx = r · (g − x̂ · mean(g · x̂))          (per row)
    dw = Σ_rows dy · x̂                      (a reduction over rows)
Each backward program walks a strided set of rows and keeps its own fp32 partial `dw`; the partials
[programs, d] are summed afterwards, which avoids atomics and keeps the result deterministic
(Liger-Kernel and Unsloth use the same scheme). The whole row sits in registers (BLOCK = next power
of two >= d: 8192 at d = 7168), as every RMSNorm in the model is over at most a few thousand
channels; the warps grow with the row (`launch_config`) so that backward's four row-wide fp32
vectors fit in registers (at 4 warps and d = 7168 they spilled, `r1mini.bench.compile_check`).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from r1mini.kernels.checks import FLOATS, check_device, check_dtype, interpreting


@triton.jit
def _rms_norm_fwd(x_ptr, w_ptr, y_ptr, rstd_ptr, d, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)  # [BLOCK]
    inside = cols < d
    x = tl.load(x_ptr + row * d + cols, mask=inside, other=0.0).to(tl.float32)  # [BLOCK]
    rstd = tl.rsqrt(tl.sum(x * x, axis=0) / d + eps)  # scalar
    w = tl.load(w_ptr + cols, mask=inside, other=0.0)  # [BLOCK]
    x_hat = (x * rstd).to(x_ptr.dtype.element_ty)  # rounded like the reference before `* w`
    y = w.to(tl.float32) * x_hat.to(tl.float32)
    tl.store(y_ptr + row * d + cols, y.to(y_ptr.dtype.element_ty), mask=inside)
    tl.store(rstd_ptr + row, rstd)


@triton.jit
def _rms_norm_bwd(x_ptr, w_ptr, dy_ptr, rstd_ptr, dx_ptr, dw_part_ptr, n_rows, d, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    n_programs = tl.num_programs(0)
    cols = tl.arange(0, BLOCK)  # [BLOCK]
    inside = cols < d
    w = tl.load(w_ptr + cols, mask=inside, other=0.0).to(tl.float32)  # [BLOCK]
    dw = tl.zeros([BLOCK], dtype=tl.float32)  # this program's partial dw
    for row in range(pid, n_rows, n_programs):
        x = tl.load(x_ptr + row * d + cols, mask=inside, other=0.0).to(tl.float32)
        dy = tl.load(dy_ptr + row * d + cols, mask=inside, other=0.0).to(tl.float32)
        rstd = tl.load(rstd_ptr + row)
        x_hat = x * rstd  # [BLOCK]
        g = dy * w  # [BLOCK]
        dx = rstd * (g - x_hat * (tl.sum(g * x_hat, axis=0) / d))
        tl.store(dx_ptr + row * d + cols, dx.to(dx_ptr.dtype.element_ty), mask=inside)
        dw += dy * x_hat
    tl.store(dw_part_ptr + pid * d + cols, dw, mask=inside)


def launch_config(d: int) -> dict[str, int]:
    """Constexprs and warps of both kernels for rows of width d: the whole row in one block, at
    most 16 elements of it per thread (4 warps up to d = 2048, 16 warps from d = 4097)."""
    block = triton.next_power_of_2(d)
    return {"BLOCK": block, "num_warps": min(16, max(4, block // 512))}


def _backward_programs(n_rows: int, device: torch.device) -> int:
    """Enough programs to fill a GPU (a few per SM); few when interpreting (each costs time)."""
    if interpreting():
        return min(n_rows, 4)
    return min(n_rows, 4 * torch.cuda.get_device_properties(device).multi_processor_count)


class _RMSNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        d = x.shape[-1]
        x2 = x.reshape(-1, d).contiguous()  # [M, d]
        out_dtype = torch.promote_types(x.dtype, weight.dtype)
        y = torch.empty(x2.shape, dtype=out_dtype, device=x.device)  # [M, d]
        rstd = torch.empty(x2.shape[0], dtype=torch.float32, device=x.device)  # [M]
        _rms_norm_fwd[(x2.shape[0],)](x2, weight, y, rstd, d, eps, **launch_config(d))
        ctx.save_for_backward(x2, weight, rstd)
        ctx.x_shape = x.shape
        return y.view(x.shape)

    @staticmethod
    def backward(ctx, dy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        x2, weight, rstd = ctx.saved_tensors  # [M, d], [d], [M]
        n_rows, d = x2.shape
        dy2 = dy.reshape(n_rows, d).contiguous()  # [M, d]
        dx = torch.empty_like(x2)  # [M, d]
        programs = _backward_programs(n_rows, x2.device)
        dw_part = torch.empty(programs, d, dtype=torch.float32, device=x2.device)  # [P, d]
        _rms_norm_bwd[(programs,)](x2, weight, dy2, rstd, dx, dw_part, n_rows, d, **launch_config(d))
        dw = dw_part.sum(0).to(weight.dtype)  # [d]
        return dx.view(ctx.x_shape), dw, None


def rms_norm_triton(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm through Triton, differentiable in `x` and `weight`.

    x: [..., d] (fp32/fp16/bf16; copied if not contiguous), weight: [d] -> [..., d] in the promoted
    dtype of x and weight, like `rms_norm_reference`.
    """
    op = "rms_norm_triton"
    check_device(op, x=x, weight=weight)
    check_dtype(op, "x", x, FLOATS)
    check_dtype(op, "weight", weight, FLOATS)
    if weight.dim() != 1 or x.dim() == 0 or weight.shape[0] != x.shape[-1]:
        raise ValueError(
            f"{op}: weight.shape={tuple(weight.shape)} must be [d] with d = x.shape[-1] "
            f"(x.shape={tuple(x.shape)})"
        )
    if not eps > 0:
        raise ValueError(f"{op}: eps={eps} must be > 0")
    return _RMSNorm.apply(x, weight.contiguous(), eps)
