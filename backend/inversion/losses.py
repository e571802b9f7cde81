"""Losses for fitting a head to photos, all computable without downloaded networks.

PanoHead's projector leans on LPIPS (a downloaded VGG16); PanoRig replaces it with MS-SSIM and
a foreground pixel loss, adds a silhouette term (the photo's person mask against the
generator's opacity) and keeps the reference's pull toward the average latent. Images are
[N, 3, H, W] in [-1, 1]; masks [N, 1, H, W] in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pytorch_msssim import ms_ssim, ssim

# MS-SSIM's five scale weights (Wang et al. 2003), as pytorch_msssim uses them.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


@dataclass(frozen=True)
class LossWeights:
    """Weights of the terms. ``latent`` is the reference's weight on mean((w - w_avg)^2);
    ``locality`` only applies while tuning the generator."""

    pixel: float = 1.0
    structure: float = 1.0
    mask: float = 1.0
    latent: float = 1.0
    locality: float = 1.0


DEFAULT_WEIGHTS = LossWeights()


def masked_pixel_loss(
    render: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: str = "l1"
) -> torch.Tensor:
    """Mean L1 or squared error over the foreground (``mask``-weighted), per channel."""
    diff = render - target
    if kind == "l1":
        diff = diff.abs()
    elif kind == "mse":
        diff = diff.square()
    else:
        raise ValueError(f"kind must be 'l1' or 'mse', got {kind!r}")
    return (diff * mask).sum() / (mask.sum() * render.shape[1]).clamp_min(1e-6)


def structural_loss(render: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1 - MS-SSIM of the foreground: both images are laid on the same grey outside ``mask``,
    so the background agrees exactly and only the person's structure counts.

    MS-SSIM halves the image four times, so a window of w pixels needs a side above 16 (w - 1):
    11 from 161 px, 7 from 97 px (4 scales there, the coarsest being tiny). Smaller renders
    (coarse fitting stages) use single-scale SSIM with a window of about a quarter of the side.
    """
    x = (render * mask + 1) / 2
    y = (target * mask + 1) / 2
    side = min(render.shape[-2:])
    if side > 160:
        value = ms_ssim(x, y, data_range=1.0, win_size=11)
    elif side > 96:
        weights = list(MS_SSIM_WEIGHTS[:4])
        total = sum(weights)
        value = ms_ssim(x, y, data_range=1.0, win_size=7, weights=[w / total for w in weights])
    else:
        window = max(3, min(11, (side // 4) | 1))
        value = ssim(x, y, data_range=1.0, win_size=window)
    return 1 - value


def mask_loss(render_mask: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the generator's opacity and the photo's person mask (for hard
    masks: the area of the symmetric difference, as a fraction of the image)."""
    return (render_mask.clamp(0, 1) - target_mask).abs().mean()


def latent_regulariser(ws: torch.Tensor, w_avg: torch.Tensor) -> torch.Tensor:
    """PanoHead's W+ regulariser: mean((ws - w_avg)^2), keeping the fit near likely heads."""
    return (ws - w_avg).square().mean()


def locality_loss(tuned: dict[str, torch.Tensor], frozen: dict[str, torch.Tensor]) -> torch.Tensor:
    """PTI's locality regularisation: a head away from the pivot, rendered by the generator being
    tuned and by the frozen original, should not change (image and, where the generator renders
    a foreground mask, silhouette; squared error)."""
    image = (tuned["image"] - frozen["image"]).square().mean()
    if "image_mask" not in tuned:
        return image
    return image + (tuned["image_mask"] - frozen["image_mask"]).square().mean()


def photo_losses(
    image: torch.Tensor,
    render_mask: torch.Tensor | None,
    target: torch.Tensor,
    target_mask: torch.Tensor,
    image_mask: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """The image terms of one render against its photos: ``image`` and ``target`` at the image
    resolution with the photo mask ``image_mask`` there; ``render_mask`` and ``target_mask`` at
    the render resolution. Returns {'pixel', 'structure', 'mask'} (unweighted); no 'mask' when
    ``render_mask`` is None (EG3D renders none: its background is part of the volume)."""
    terms = {
        "pixel": masked_pixel_loss(image, target, image_mask),
        "structure": structural_loss(image, target, image_mask),
    }
    if render_mask is not None:
        terms["mask"] = mask_loss(render_mask, target_mask)
    return terms


def weighted_sum(terms: dict[str, torch.Tensor], weights: LossWeights) -> torch.Tensor:
    """Total loss: each term times the weight of the same name."""
    return sum(getattr(weights, name) * value for name, value in terms.items())


def foreground_psnr(image: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """PSNR in dB over the foreground (``mask`` > 0.5), images in [-1, 1] taken to [0, 1]."""
    keep = (mask > 0.5).expand_as(image)
    mse = ((image - target)[keep] / 2).square().mean().clamp_min(1e-10)
    return float(-10 * torch.log10(mse))
