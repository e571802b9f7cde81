"""Feature sampling from the backbone's output volume: PanoHead's tri-grid.

A sampler turns the backbone image [N, C_total, H, W] into per-point features [N, M, 32]. It is a
separate, swappable component so a tri-plane (EG3D) sampler can stand beside this one.
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
        axes = torch.tensor(TRIGRID_AXES) if plane_axes is None else plane_axes.float()
        # Not part of the state dict (PanoHead keeps it as a plain attribute), but moves with .to().
        self.register_buffer("inverse_axes", torch.linalg.inv(axes), persistent=False)

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
        q = (2.0 / self.box_warp) * points
        q = q.unsqueeze(1).expand(-1, planes, -1, -1).reshape(n * planes, m, 3)
        inv = (
            self.inverse_axes.to(q.dtype)
            .unsqueeze(0)
            .expand(n, -1, -1, -1)
            .reshape(n * planes, 3, 3)
        )
        coords = torch.bmm(q, inv).reshape(n * planes, 1, 1, m, 3)
        out = F.grid_sample(
            volumes,
            coords.to(volumes.dtype),
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        )
        # [N*3, F, 1, 1, M] -> [N, 3, M, F], then the mean over the three grids.
        out = out.reshape(n, planes, self.features, m).permute(0, 1, 3, 2)
        return out.mean(dim=1)
