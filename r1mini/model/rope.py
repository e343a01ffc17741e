"""Rotary position embeddings with YaRN context extension, as DeepSeek-V3 applies them.

V3 paper §2.1.1 (the decoupled RoPE key/query parts, eq. 3 and 8) and §4.3 (YaRN, Peng et al. 2023,
arXiv 2309.00071, extending 4K to 128K with s = 40, α = 1, β = 32). DeepSeek rotates *interleaved*
pairs `(x0, x1), (x2, x3), ...` (a complex multiply in the official code). YaRN leaves high-frequency
pairs (more than `beta_fast` rotations over the original context) untouched, divides low-frequency
pairs (fewer than `beta_slow` rotations) by the factor, and ramps linearly in between; the softmax
temperature is corrected by `mscale²` (see `MLA`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from r1mini.config import ModelConfig, yarn_mscale
from r1mini.kernels.backend import exporting


def yarn_inv_freq(config: ModelConfig) -> torch.Tensor:
    """Per-pair angular frequencies, [rope_dim / 2], with YaRN's correction when `rope_factor > 1`."""
    dim, base = config.qk_rope_head_dim, config.rope_theta
    inv_freq = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)  # [dim/2]
    if not config.uses_yarn:
        return inv_freq

    def pair_index(rotations: float) -> float:
        # the pair index whose wavelength fits `rotations` times into the original context
        return dim * math.log(config.original_seq_len / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low = max(math.floor(pair_index(config.beta_fast)), 0)
    high = min(math.ceil(pair_index(config.beta_slow)), dim - 1)
    ramp = (torch.arange(dim // 2, dtype=torch.float32) - low) / max(high - low, 0.001)
    extrapolate = 1 - ramp.clamp(0, 1)  # 1: keep the frequency, 0: interpolate it
    return inv_freq / config.rope_factor * (1 - extrapolate) + inv_freq * extrapolate


def yarn_magnitude(config: ModelConfig) -> float:
    """YaRN's scale on cos/sin: 1.0 for DeepSeek-V3, whose configs set mscale == mscale_all_dim, so
    that the whole temperature correction goes into the softmax scale instead (see `softmax_scale`)."""
    factor = config.rope_factor
    if config.mscale and config.mscale_all_dim:
        return yarn_mscale(factor, config.mscale) / yarn_mscale(factor, config.mscale_all_dim)
    return yarn_mscale(factor)


def softmax_scale(config: ModelConfig) -> float:
    """`1/sqrt(d_h + d_h^R)`, times YaRN's `mscale²` when the context is extended (V3 §4.3)."""
    scale = config.qk_head_dim**-0.5
    if config.uses_yarn and config.mscale_all_dim:
        scale *= yarn_mscale(config.rope_factor, config.mscale_all_dim) ** 2
    return scale


class RotaryEmbedding(nn.Module):
    """Angles for absolute positions, and the rotation of interleaved pairs.

    Attributes: inv_freq [rope_dim/2]; magnitude (YaRN's scale on cos/sin); table: cos, sin of
    positions `0 ..` computed once (grown as needed, up to `max_seq_len`), which `angles` slices.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.register_buffer("inv_freq", yarn_inv_freq(config), persistent=False)  # [rope_dim/2]
        self.magnitude = yarn_magnitude(config)
        self.max_seq_len = config.max_seq_len
        self.table: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """positions: [T] -> cos, sin: [T, rope_dim/2]."""
        angles = positions.float()[:, None] * self.inv_freq[None, :]  # [T, rope_dim/2]
        return angles.cos() * self.magnitude, angles.sin() * self.magnitude

    def angles(self, start: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin [length, rope_dim/2] of positions `start .. start+length-1`: `forward`'s values,
        sliced from `table` instead of recomputed at every decoding step. A graph traced for export
        computes the whole table and slices it, so that it serves any length; a compiled one
        computes just these positions."""
        end = start + length
        if exporting():
            cos, sin = self(torch.arange(self.max_seq_len, device=self.inv_freq.device))  # [max_seq_len, R/2]
            return cos[start:end], sin[start:end]
        if torch.compiler.is_compiling():  # computed in the graph: no table whose growth recompiles it
            return self(torch.arange(start, end, device=self.inv_freq.device))
        cos = None if self.table is None else self.table[0]
        if cos is None or cos.shape[0] < end or cos.device != self.inv_freq.device:
            size = min(max(end, 256, 2 * (0 if cos is None else cos.shape[0])), self.max_seq_len)
            self.table = self(torch.arange(max(size, end), device=self.inv_freq.device))
        cos, sin = self.table
        return cos[start:end], sin[start:end]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs of the last dim. x: [B, T, ..., R]; cos, sin: [T, R/2] -> like x.

    Each pair `(x0, x1)` is the complex number `x0 + i·x1`, turned by `cos + i·sin` in one complex
    multiply, as DeepSeek's `apply_rotary_emb` does (computed in at least fp32). Under
    `torch.compile`, whose code generator has no complex numbers, the same rotation is written in
    reals (`rotate_pairs_real`).
    """
    shape = (1, cos.shape[0]) + (1,) * (x.dim() - 3) + (cos.shape[1],)  # [1, T, 1.., R/2]
    pairs = x.to(torch.promote_types(x.dtype, torch.float32)).unflatten(-1, (-1, 2))  # [B, T, ..., R/2, 2]
    rotate = rotate_pairs_real if torch.compiler.is_compiling() else rotate_pairs_complex
    return rotate(pairs, cos.view(shape), sin.view(shape)).flatten(-2).to(x.dtype)


def rotate_pairs_complex(pairs: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """pairs [..., R/2, 2] times `cos + i·sin` [..., R/2] (broadcast), as complex numbers."""
    if pairs.storage_offset() % 2 or any(stride % 2 for stride in pairs.stride()[:-2]):
        pairs = pairs.contiguous()  # a complex view needs even offsets and strides
    return torch.view_as_real(torch.view_as_complex(pairs) * torch.complex(cos, sin))  # [..., R/2, 2]


def rotate_pairs_real(pairs: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """`rotate_pairs_complex` in reals: `(x0, x1) -> (x0·cos - x1·sin, x0·sin + x1·cos)`."""
    x0, x1 = pairs.unbind(-1)  # [..., R/2] each
    return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)  # [..., R/2, 2]
