"""Camera rays from the 25-value camera label (cam2world 4x4 + normalised intrinsics 3x3)."""

from __future__ import annotations

import torch


def split_label(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, 25] label -> (cam2world [N, 4, 4], intrinsics [N, 3, 3])."""
    if c.ndim != 2 or c.shape[1] != 25:
        raise ValueError(f"camera label must have shape [batch, 25], got {list(c.shape)}")
    return c[:, :16].reshape(-1, 4, 4), c[:, 16:25].reshape(-1, 3, 3)


def camera_rays(c: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Origins and unit directions [N, R*R, 3] of an R x R render, pixels in row-major order.

    The camera uses OpenCV axes (+x right, +y down, +z forward); pixel (i, j) looks through
    normalised image point ((j + 0.5) / R, (i + 0.5) / R).
    """
    cam2world, k = split_label(c)
    n = c.shape[0]
    fx, fy, cx, cy, sk = k[:, 0, 0], k[:, 1, 1], k[:, 0, 2], k[:, 1, 2], k[:, 0, 1]
    idx = torch.arange(resolution, dtype=torch.float32, device=c.device) * (1.0 / resolution) + (
        0.5 / resolution
    )
    v, u = torch.meshgrid(idx, idx, indexing="ij")
    u = u.reshape(1, -1)
    v = v.reshape(1, -1)
    fx, fy, cx, cy, sk = (t.unsqueeze(-1) for t in (fx, fy, cx, cy, sk))
    x_cam = (u - cx + cy * sk / fy - sk * v / fy) / fx
    y_cam = (v - cy) / fy
    ones = torch.ones_like(x_cam)
    points_cam = torch.stack((x_cam, y_cam, ones, ones), dim=-1)  # [N, M, 4]
    points_world = torch.bmm(cam2world, points_cam.permute(0, 2, 1)).permute(0, 2, 1)[..., :3]
    origins = cam2world[:, :3, 3]
    directions = torch.nn.functional.normalize(points_world - origins[:, None, :], dim=2)
    return origins[:, None, :].expand(n, directions.shape[1], 3).contiguous(), directions
