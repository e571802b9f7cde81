"""FIR resampling used by StyleGAN2: zero-insertion upsampling followed by a separable low-pass.

Pure PyTorch (depthwise conv2d); the ordering of padding, transposed convolution and filtering
follows StyleGAN2 so that results match checkpoints trained with it to float32 precision.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from kernels import fir

from ..fast_path import is_active


def fir_filter(taps: Sequence[float] = (1, 3, 3, 1)) -> torch.Tensor:
    """Outer product of ``taps`` with itself, normalised to sum 1 (``resample_filter``)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def filter2d(
    x: torch.Tensor, f: torch.Tensor, pad: Sequence[int], gain: float = 1.0
) -> torch.Tensor:
    """Pad ``x`` by (left, right, top, bottom), negative crops; convolve channels with ``f``."""
    channels = x.shape[1]
    # Symmetric filters only in practice, but flip so the operation is a true convolution.
    kernel = (f * gain).to(x.dtype).flip([0, 1])
    if is_active() and fir.can_filter(pad):
        return fir.filter2d(x, kernel, pad[0])
    weight = kernel[None, None].repeat(channels, 1, 1, 1)
    x = F.pad(x, [max(p, 0) for p in pad])
    x = x[
        :,
        :,
        max(-pad[2], 0) : x.shape[2] - max(-pad[3], 0),
        max(-pad[0], 0) : x.shape[3] - max(-pad[1], 0),
    ]
    return F.conv2d(x, weight, groups=channels)


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """Upsample by ``up``: insert zeros between pixels, then low-pass with ``f`` (gain up^2)."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
    x = x.reshape(n, c, h * up, w * up)
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return filter2d(x, f, [p0, p1, p0, p1], gain=up * up)


def upsample_conv2d(
    x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor, padding: int, groups: int = 1
) -> torch.Tensor:
    """2x upsampling convolution: stride-2 transposed conv, then the FIR low-pass.

    ``weight`` is [out, in/groups, k, k] and is applied as a convolution (not correlation),
    which is what StyleGAN2's up=2 layers do.
    """
    out_ch, in_per_group, kh, kw = weight.shape
    up = 2
    fw = f.shape[-1]
    pad0 = padding + (fw + up - 1) // 2 - (kw - 1)
    pad1 = padding + (fw - up) // 2 - (kw - up)
    pad_t = max(min(-pad0, -pad1), 0)
    if groups == 1:
        w = weight.transpose(0, 1)
    else:
        w = weight.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
        w = w.reshape(groups * in_per_group, out_ch // groups, kh, kw)
    x = F.conv_transpose2d(x, w, stride=up, padding=pad_t, groups=groups)
    p0, p1 = pad0 + pad_t, pad1 + pad_t
    return filter2d(x, f, [p0, p1, p0, p1], gain=up * up)
