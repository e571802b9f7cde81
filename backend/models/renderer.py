"""Two-pass volume renderer (stratified coarse pass, importance-sampled fine pass) of EG3D/PanoHead.

The renderer is given a *field*: a function from world points [N, M, 3] to raw decoder outputs
{'sigma': [N, M, 1], 'rgb': [N, M, C]}. It knows nothing about grids or decoders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Field = Callable[[torch.Tensor], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class RenderSettings:
    ray_start: float = 2.25
    ray_end: float = 3.3
    depth_resolution: int = 48
    depth_resolution_importance: int = 48
    box_warp: float = 1.0
    triplane_crop: float = 0.1  # 0 disables PanoHead's crop of the box sides while rendering
    density_noise: float = 0.0
    white_back: bool = False  # EG3D ShapeNet: composite onto white (features 1 where empty)


@dataclass(frozen=True)
class RenderResult:
    features: torch.Tensor  # [N, M, C] composited features
    depth: torch.Tensor  # [N, M, 1] expected ray distance
    weight: torch.Tensor  # [N, M, 1] accumulated opacity


def _crop(points: torch.Tensor, sigma: torch.Tensor, crop: float, box_warp: float) -> torch.Tensor:
    """Force density off beyond |x| or |z| = box_warp/2 - crop (PanoHead's triplane crop)."""
    if not crop:
        return sigma
    limit = box_warp / 2 - crop
    outside = (points[..., [0, 2]].abs() > limit).any(dim=-1, keepdim=True)
    return sigma.masked_fill(outside, -1e3)


def march(
    colors: torch.Tensor, densities: torch.Tensor, depths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Composite samples [N, R, S, *] along each ray with midpoint quadrature.

    Returns (colour [N, R, C], depth [N, R, 1], per-interval weights [N, R, S-1, 1]).
    """
    deltas = depths[:, :, 1:] - depths[:, :, :-1]
    colors_mid = (colors[:, :, :-1] + colors[:, :, 1:]) / 2
    densities_mid = (densities[:, :, :-1] + densities[:, :, 1:]) / 2
    depths_mid = (depths[:, :, :-1] + depths[:, :, 1:]) / 2
    # The -1 bias on raw sigma makes untrained fields start transparent.
    alpha = 1 - torch.exp(-F.softplus(densities_mid - 1) * deltas)
    shifted = torch.cat([torch.ones_like(alpha[:, :, :1]), 1 - alpha + 1e-10], dim=-2)
    weights = alpha * torch.cumprod(shifted, dim=-2)[:, :, :-1]
    rgb = torch.sum(weights * colors_mid, dim=-2)
    depth = torch.sum(weights * depths_mid, dim=-2) / weights.sum(dim=2)
    depth = torch.nan_to_num(depth, float("inf")).clamp(torch.min(depths), torch.max(depths))
    return rgb, depth, weights


def sample_pdf(
    bins: torch.Tensor, weights: torch.Tensor, count: int, u: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """Inverse-CDF samples at quantiles ``u`` [R, count] of the piecewise-constant ``weights``."""
    n_rays, n_bins = weights.shape
    weights = weights + eps
    pdf = weights / weights.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, -1)], -1)
    inds = torch.searchsorted(cdf, u.contiguous(), right=True)
    below = torch.clamp_min(inds - 1, 0)
    above = torch.clamp_max(inds, n_bins)
    idx = torch.stack([below, above], -1).view(n_rays, 2 * count)
    cdf_g = torch.gather(cdf, 1, idx).view(n_rays, count, 2)
    bins_g = torch.gather(bins, 1, idx).view(n_rays, count, 2)
    denom = cdf_g[..., 1] - cdf_g[..., 0]
    denom = torch.where(denom < eps, torch.ones_like(denom), denom)
    return bins_g[..., 0] + (u - cdf_g[..., 0]) / denom * (bins_g[..., 1] - bins_g[..., 0])


class ImportanceRenderer:
    """Renders a field along camera rays. ``deterministic`` removes all randomness:

    coarse depths exactly linspace(ray_start, ray_end, S), importance quantiles linspace(0, 1, S').
    Otherwise coarse depths are jittered and quantiles drawn uniformly, from ``generator`` if given.
    """

    def __init__(self, settings: RenderSettings) -> None:
        self.settings = settings

    def _evaluate(
        self,
        field: Field,
        origins: torch.Tensor,
        directions: torch.Tensor,
        depths: torch.Tensor,
        generator: torch.Generator | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n, r, s, _ = depths.shape
        points = (origins.unsqueeze(-2) + depths * directions.unsqueeze(-2)).reshape(n, r * s, 3)
        out = field(points)
        sigma = out["sigma"]
        if self.settings.density_noise > 0:
            noise = torch.randn(sigma.shape, generator=generator, device=sigma.device)
            sigma = sigma + noise * self.settings.density_noise
        sigma = _crop(points, sigma, self.settings.triplane_crop, self.settings.box_warp)
        return out["rgb"].reshape(n, r, s, -1), sigma.reshape(n, r, s, 1)

    def __call__(
        self,
        field: Field,
        origins: torch.Tensor,
        directions: torch.Tensor,
        deterministic: bool = True,
        generator: torch.Generator | None = None,
        samples: tuple[int, int] | None = None,
    ) -> RenderResult:
        """``samples`` (coarse, importance) per ray overrides the settings' for this call."""
        cfg = self.settings
        n, r, _ = origins.shape
        device = origins.device
        s, k = samples or (cfg.depth_resolution, cfg.depth_resolution_importance)
        if s < 2 or k < 0:
            raise ValueError(
                f"samples per ray {s} + {k}: give at least 2 coarse samples and 0 or more "
                "importance samples"
            )
        depths = torch.linspace(cfg.ray_start, cfg.ray_end, s, device=device)
        depths = depths.reshape(1, 1, s, 1).repeat(n, r, 1, 1)
        if not deterministic:
            delta = (cfg.ray_end - cfg.ray_start) / (s - 1)
            depths = depths + torch.rand(depths.shape, generator=generator, device=device) * delta
        colors, densities = self._evaluate(field, origins, directions, depths, generator)

        if k > 0:
            with torch.no_grad():
                _, _, weights = march(colors, densities, depths)
                fine = self._importance_depths(depths, weights, k, deterministic, generator)
            colors_f, densities_f = self._evaluate(field, origins, directions, fine, generator)
            depths = torch.cat([depths, fine], dim=-2)
            order = torch.argsort(depths, dim=-2)
            depths = torch.gather(depths, -2, order)
            colors = torch.gather(
                torch.cat([colors, colors_f], -2), -2, order.expand(-1, -1, -1, colors.shape[-1])
            )
            densities = torch.gather(torch.cat([densities, densities_f], -2), -2, order)
        rgb, depth, weights = march(colors, densities, depths)
        opacity = weights.sum(2)
        if cfg.white_back:
            rgb = rgb + 1 - opacity
        return RenderResult(rgb, depth, opacity)

    @staticmethod
    def _importance_depths(
        depths: torch.Tensor,
        weights: torch.Tensor,
        count: int,
        deterministic: bool,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        n, r, s, _ = depths.shape
        z = depths.reshape(n * r, s)
        w = weights.reshape(n * r, 1, -1).float()
        # Smooth the coarse weights (max then average over pairs) and keep a floor everywhere.
        w = F.avg_pool1d(F.max_pool1d(w, 2, 1, padding=1), 2, 1).squeeze(1) + 0.01
        mids = 0.5 * (z[:, :-1] + z[:, 1:])
        if deterministic:
            u = torch.linspace(0, 1, count, device=z.device).expand(n * r, count)
        else:
            u = torch.rand(n * r, count, generator=generator, device=z.device)
        return sample_pdf(mids, w[:, 1:-1], count, u).reshape(n, r, count, 1)
