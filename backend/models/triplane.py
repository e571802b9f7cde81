"""Feature sampling from EG3D's tri-plane: three 2D feature planes, no depth dimension.

The backbone image [N, 96, H, W] is viewed as three 32-channel planes. A point is projected onto
each plane with the same inverted-axes product as PanoHead's tri-grid, keeping only its first two
components, and sampled bilinearly; the three samples are averaged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .feature_grids import inverse_axes_buffer, plane_coordinates

# EG3D's plane axes. The third matrix projects onto (z, x), a second XZ-like plane rather than
# YZ; released weights were trained with it, so it is kept as is.
TRIPLANE_AXES = (
    ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
    ((0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
)


class TriPlaneSampler(nn.Module):
    """Bilinear sampling of three 32-channel planes, averaged over the planes."""

    def __init__(
        self, features: int = 32, box_warp: float = 1.0, plane_axes: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        self.features = features
        self.box_warp = box_warp
        inverse_axes_buffer(self, torch.tensor(TRIPLANE_AXES) if plane_axes is None else plane_axes)

    @property
    def channels(self) -> int:
        """Backbone output channels this sampler expects."""
        return 3 * self.features

    def grids(self, backbone_image: torch.Tensor) -> torch.Tensor:
        """Backbone output as planes [N, 3, features, H, W]."""
        n, _, h, w = backbone_image.shape
        return backbone_image.view(n, 3, self.features, h, w)

    def forward(self, grids: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Features at world ``points`` [N, M, 3] from planes [N, 3, F, H, W] -> [N, M, F]."""
        n, planes, _, h, w = grids.shape
        m = points.shape[1]
        coords = plane_coordinates(points, self.inverse_axes, self.box_warp)[..., :2]
        out = F.grid_sample(
            grids.reshape(n * planes, self.features, h, w),
            coords.unsqueeze(1).to(grids.dtype),
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        )
        # [N*3, F, 1, M] -> [N, 3, M, F], then the mean over the three planes.
        out = out.reshape(n, planes, self.features, m).permute(0, 1, 3, 2)
        return out.mean(dim=1)
