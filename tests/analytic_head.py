"""A generator-like stand-in with a known surface and colour, for geometry and texture tests.

The shape is a smooth union of a cranium, a face ellipsoid, a nose and a neck; raw sigma is
``level - slope * f(p)``, so the ``level`` iso-surface is exactly ``f = 0``. The first three
feature channels carry a smooth colour pattern in [-1, 1]; ``raw_rgb`` reads them directly.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from backend.models.rays import camera_rays
from backend.models.renderer import ImportanceRenderer, RenderSettings


def _smin(a: torch.Tensor, b: torch.Tensor, k: float) -> torch.Tensor:
    h = (0.5 + 0.5 * (b - a) / k).clamp(0, 1)
    return b * (1 - h) + a * h - k * h * (1 - h)


def _ellipsoid(p: torch.Tensor, centre, radii) -> torch.Tensor:
    r = torch.tensor(radii, dtype=p.dtype, device=p.device)
    q = (p - torch.tensor(centre, dtype=p.dtype, device=p.device)) / r
    return (q.norm(dim=-1) - 1) * r.min()


class AnalyticHead:
    """Duck-types the parts of ``TriGridGenerator`` that geometry and texture use."""

    def __init__(
        self, level: float = 10.0, slope: float = 400.0, resolution: int = 48, head: bool = True
    ) -> None:
        self.level, self.slope, self.head = level, slope, head
        self.config = SimpleNamespace(box_warp=1.0)
        self.neural_rendering_resolution = resolution
        self.num_ws, self.w_dim = 1, 1
        self.renderer = ImportanceRenderer(
            RenderSettings(depth_resolution=48, depth_resolution_importance=48, triplane_crop=0)
        )

    def implicit(self, p: torch.Tensor) -> torch.Tensor:
        """f(p): negative inside, zero on the surface, roughly a distance near it."""
        if not self.head:
            return _ellipsoid(p, (0.02, 0.05, -0.01), (0.2, 0.28, 0.22))
        cranium = _ellipsoid(p, (0.0, 0.08, -0.03), (0.19, 0.2, 0.21))
        face = _ellipsoid(p, (0.0, -0.04, 0.05), (0.14, 0.19, 0.15))
        nose = _ellipsoid(p, (0.0, 0.0, 0.2), (0.03, 0.05, 0.04))
        radial = (p[..., [0, 2]] - torch.tensor([0.0, -0.03], device=p.device)).norm(dim=-1)
        neck = torch.maximum(radial - 0.08, p[..., 1] + 0.05)  # open cylinder down to y = -inf
        f = _smin(_smin(cranium, face, 0.06), neck, 0.05)
        return _smin(f, nose, 0.02)

    def colour(self, p: torch.Tensor) -> torch.Tensor:
        base = torch.tensor([0.45, 0.1, -0.1], device=p.device)
        pattern = torch.stack(
            (torch.sin(9 * p[..., 0] + 1), torch.sin(11 * p[..., 1]), torch.sin(7 * p[..., 2] + 2)),
            dim=-1,
        )
        return base + 0.4 * pattern

    # --- the generator interface --------------------------------------------------------
    def synthesize_grids(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        return torch.zeros(ws.shape[0], 1)

    def query(self, grids: torch.Tensor, points: torch.Tensor) -> dict[str, torch.Tensor]:
        sigma = self.level - self.slope * self.implicit(points)
        rgb = torch.zeros(*points.shape[:-1], 32, device=points.device)
        rgb[..., :3] = self.colour(points)
        return {"sigma": sigma[..., None], "rgb": rgb}

    def raw_rgb(self, features: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        return features[:, :3]

    def synthesis(
        self,
        ws,
        c,
        neural_rendering_resolution=None,
        noise_mode="const",
        deterministic=True,
        generator=None,
        grids=None,
    ) -> dict[str, torch.Tensor]:
        res = neural_rendering_resolution or self.neural_rendering_resolution
        origins, directions = camera_rays(c, res)
        out = self.renderer(lambda p: self.query(grids, p), origins, directions, True)
        n = c.shape[0]
        features = out.features.permute(0, 2, 1).reshape(n, -1, res, res)
        raw = self.raw_rgb(features, ws)
        return {
            "image": F.interpolate(raw, scale_factor=4, mode="bilinear", align_corners=False),
            "image_raw": raw,
            "image_depth": out.depth.permute(0, 2, 1).reshape(n, 1, res, res),
            "image_mask": out.weight.permute(0, 2, 1).reshape(n, 1, res, res),
            "feature_image": features,
        }

    def surface_distance(self, points: np.ndarray) -> np.ndarray:
        """Distance of points near the surface to f = 0 (first order: |f| / |grad f|)."""
        p = torch.from_numpy(np.asarray(points, dtype=np.float64)).requires_grad_(True)
        f = self.implicit(p)
        (grad,) = torch.autograd.grad(f.sum(), p)
        return (f.abs() / grad.norm(dim=-1).clamp_min(1e-9)).detach().numpy()
