"""A generator-like stand-in with a known surface and colour, for geometry and texture tests.

The shape is a smooth union of a cranium, a face ellipsoid, a nose and a neck; raw sigma is
``10 - slope * f(p)`` near the surface, so the level-10 iso-surface is exactly ``f = 0``. The
colour is a smooth pattern; ``ImplicitHead`` provides the generator interface.
"""

from __future__ import annotations

import numpy as np
import torch

from backend.teacher.implicit import ImplicitHead


def _smin(a: torch.Tensor, b: torch.Tensor, k: float) -> torch.Tensor:
    h = (0.5 + 0.5 * (b - a) / k).clamp(0, 1)
    return b * (1 - h) + a * h - k * h * (1 - h)


def _ellipsoid(p: torch.Tensor, centre, radii) -> torch.Tensor:
    r = torch.tensor(radii, dtype=p.dtype, device=p.device)
    q = (p - torch.tensor(centre, dtype=p.dtype, device=p.device)) / r
    return (q.norm(dim=-1) - 1) * r.min()


class AnalyticHead(ImplicitHead):
    def __init__(self, slope: float = 400.0, resolution: int = 48, head: bool = True) -> None:
        super().__init__(slope=slope, resolution=resolution)
        self.head = head

    def implicit(self, p: torch.Tensor) -> torch.Tensor:
        """f(p): negative inside, zero on the surface, roughly a distance near it."""
        if not self.head:
            return _ellipsoid(p, (0.02, 0.05, -0.01), (0.2, 0.28, 0.22))
        cranium = _ellipsoid(p, (0.0, 0.08, -0.03), (0.19, 0.2, 0.21))
        face = _ellipsoid(p, (0.0, -0.04, 0.05), (0.14, 0.19, 0.15))
        nose = _ellipsoid(p, (0.0, 0.0, 0.2), (0.03, 0.05, 0.04))
        radial = (p[..., [0, 2]] - torch.tensor([0.0, -0.03], dtype=p.dtype)).norm(dim=-1)
        neck = torch.maximum(radial - 0.08, p[..., 1] + 0.05)  # open cylinder down to y = -inf
        f = _smin(_smin(cranium, face, 0.06), neck, 0.05)
        return _smin(f, nose, 0.02)

    def field(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = torch.from_numpy(points)
        base = torch.tensor([0.45, 0.1, -0.1], dtype=p.dtype)
        pattern = torch.stack(
            (torch.sin(9 * p[..., 0] + 1), torch.sin(11 * p[..., 1]), torch.sin(7 * p[..., 2] + 2)),
            dim=-1,
        )
        colour = (base + 0.4 * pattern + 1) / 2
        return self.implicit(p).numpy(), colour.numpy()

    def surface_distance(self, points: np.ndarray) -> np.ndarray:
        """Distance of points near the surface to f = 0 (first order: |f| / |grad f|)."""
        p = torch.from_numpy(np.asarray(points, dtype=np.float64)).requires_grad_(True)
        f = self.implicit(p)
        (grad,) = torch.autograd.grad(f.sum(), p)
        return (f.abs() / grad.norm(dim=-1).clamp_min(1e-9)).detach().numpy()
