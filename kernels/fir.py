"""StyleGAN2's FIR low-pass without the padded copy.

The reference (``backend/models/stylegan2/resample.py``: ``filter2d``) pads the activation map
into a new tensor and then convolves it; after the super-resolution's 2x upsampling that copy is
a 128 x 515^2 map written and read once more. When the padding is the same on every side it is
the convolution's own zero padding, which gives the same sums without the copy. (A compiled
16-tap stencil was faster still, but its summation order moved the 512^2 image by more than
1e-5 from the reference.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def can_filter(pad: list[int] | tuple[int, ...]) -> bool:
    """Whether ``filter2d`` applies: one non-negative padding on all four sides."""
    return len(set(pad)) == 1 and pad[0] >= 0


def filter2d(x: torch.Tensor, kernel: torch.Tensor, pad: int) -> torch.Tensor:
    """Convolve every channel of ``x`` [N, C, H, W] with ``kernel`` [kh, kw] (already flipped:
    applied as a correlation), zero-padded by ``pad`` on every side."""
    weight = kernel[None, None].repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(x, weight, padding=pad, groups=x.shape[1])
