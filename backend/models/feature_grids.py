"""Feature sampling from the backbone's output volume: PanoHead's tri-grid.

A sampler turns the backbone image [N, C_total, H, W] into per-point features [N, M, 32]. It is a
separate, swappable component: EG3D's tri-plane sampler (``triplane``) stands beside this one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# PanoHead's grids: XY with depth along Z, XZ with depth along Y, YZ with depth along X.
TRIGRID_AXES = (
    ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
    ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0)),
)


def plane_coordinates(
    points: torch.Tensor, inverse_axes: torch.Tensor, box_warp: float
) -> torch.Tensor:
    """World ``points`` [N, M, 3] in each plane's frame, normalised to the box: [N*P, M, 3].

    ``inverse_axes`` [P, 3, 3] are the inverted plane axes; a point at the box face lands on
    +-1 (``grid_sample``'s edge).
    """
    n, m, _ = points.shape
    planes = inverse_axes.shape[0]
    q = (2.0 / box_warp) * points
    q = q.unsqueeze(1).expand(-1, planes, -1, -1).reshape(n * planes, m, 3)
    inv = inverse_axes.to(q.dtype).unsqueeze(0).expand(n, -1, -1, -1).reshape(n * planes, 3, 3)
    return torch.bmm(q, inv)


def inverse_axes_buffer(module: nn.Module, axes: torch.Tensor) -> None:
    """Register the inverted plane axes on ``module``: not in the state dict (the official
    renderer keeps them as a plain attribute), but moved with ``.to()``."""
    module.register_buffer("inverse_axes", torch.linalg.inv(axes.float()), persistent=False)


class TriGridSampler(nn.Module):
    """Trilinear sampling of three 32-channel grids of ``depth`` slices, averaged over the grids."""

    def __init__(
        self,
        depth: int = 3,
        features: int = 32,
        box_warp: float = 1.0,
        plane_axes: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.depth = depth
        self.features = features
        self.box_warp = box_warp
        inverse_axes_buffer(self, torch.tensor(TRIGRID_AXES) if plane_axes is None else plane_axes)

    @property
    def channels(self) -> int:
        """Backbone output channels this sampler expects."""
        return 3 * self.features * self.depth

    def grids(self, backbone_image: torch.Tensor) -> torch.Tensor:
        """Backbone output as [N, 3, features*depth, H, W] (channel = feature*depth + slice)."""
        n, _, h, w = backbone_image.shape
        return backbone_image.view(n, 3, self.features * self.depth, h, w)

    def forward(self, grids: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Features at world ``points`` [N, M, 3] from ``grids`` [N, 3, F*D, H, W] -> [N, M, F]."""
        n, planes, _, h, w = grids.shape
        m = points.shape[1]
        volumes = grids.reshape(n * planes, self.features, self.depth, h, w)
        coords = plane_coordinates(points, self.inverse_axes, self.box_warp)
        out = F.grid_sample(
            volumes,
            coords.reshape(n * planes, 1, 1, m, 3).to(volumes.dtype),
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        )
        # [N*3, F, 1, 1, M] -> [N, 3, M, F], then the mean over the three grids.
        out = out.reshape(n, planes, self.features, m).permute(0, 1, 3, 2)
        return out.mean(dim=1)
