"""Converting generator outputs to 8-bit images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def image_to_uint8(image: torch.Tensor) -> np.ndarray:
    """[3, H, W] image in [-1, 1] -> [H, W, 3] uint8 (x*127.5 + 128, clamped)."""
    return (image.permute(1, 2, 0) * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu().numpy()


def mask_to_uint8(mask: torch.Tensor, size: int | None = None) -> np.ndarray:
    """[1, h, w] foreground mask in [0, 1] -> [size, size] uint8, bilinearly resized if asked."""
    if size is not None and mask.shape[-1] != size:
        mask = F.interpolate(mask[None], size=(size, size), mode="bilinear", align_corners=False)[0]
    return (mask[0].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def save_png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
