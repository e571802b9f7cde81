"""Camera labels in the generator's frame (+y up, face toward +z, subject's left = +x).

A label is the 25 values PanoHead/EG3D condition and render on: cam2world (4x4, OpenCV axes:
+x right, +y down, +z forward) then normalised intrinsics (3x3). User-facing angles are degrees:
yaw 0 = frontal, 90 = camera on the subject's left (+x), 180 = back of the head; pitch is the
camera's elevation (positive = above, looking down).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

FOCAL = 4.2647  # normalised focal length of PanoHead's training data (13.37 deg horizontal FOV)
RADIUS = 2.7  # camera distance from the origin in the training data


def intrinsics(focal: float = FOCAL) -> torch.Tensor:
    return torch.tensor([[focal, 0.0, 0.5], [0.0, focal, 0.5], [0.0, 0.0, 1.0]])


def look_at(origins: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """cam2world [N, 4, 4] of cameras at ``origins`` [N, 3] looking at ``targets``, no roll."""
    forward = torch.nn.functional.normalize(targets - origins, dim=-1)
    up = torch.tensor([0.0, 1.0, 0.0], device=origins.device).expand_as(forward)
    right = -torch.nn.functional.normalize(torch.cross(up, forward, dim=-1), dim=-1)
    down = torch.nn.functional.normalize(torch.cross(forward, right, dim=-1), dim=-1)
    cam2world = torch.eye(4, device=origins.device).repeat(origins.shape[0], 1, 1)
    cam2world[:, :3, :3] = torch.stack((right, down, forward), dim=-1)
    cam2world[:, :3, 3] = origins
    return cam2world


def labels(cam2world: torch.Tensor, focal: float = FOCAL) -> torch.Tensor:
    """[N, 4, 4] cam2world -> [N, 25] labels with the given normalised focal length."""
    k = intrinsics(focal).to(cam2world.device).reshape(1, 9).expand(cam2world.shape[0], 9)
    return torch.cat([cam2world.reshape(-1, 16), k], dim=1)


def orbit_cameras(
    yaw_deg: Sequence[float] | float,
    pitch_deg: Sequence[float] | float = 0.0,
    radius: float = RADIUS,
    target: Sequence[float] = (0.0, 0.0, 0.0),
    focal: float = FOCAL,
) -> torch.Tensor:
    """Labels [N, 25] of cameras on a sphere around the origin, aimed at ``target``.

    ``yaw_deg`` and ``pitch_deg`` broadcast against each other.
    """
    yaw = torch.deg2rad(torch.as_tensor(yaw_deg, dtype=torch.float32).reshape(-1))
    pitch = torch.deg2rad(torch.as_tensor(pitch_deg, dtype=torch.float32).reshape(-1))
    yaw, pitch = torch.broadcast_tensors(yaw, pitch)
    origins = radius * torch.stack(
        (torch.cos(pitch) * torch.sin(yaw), torch.sin(pitch), torch.cos(pitch) * torch.cos(yaw)),
        dim=-1,
    )
    targets = torch.as_tensor(target, dtype=torch.float32).expand_as(origins)
    return labels(look_at(origins, targets), focal)


def sampler_cameras(
    horizontal: Sequence[float] | float,
    vertical: Sequence[float] | float,
    radius: float = RADIUS,
    target: Sequence[float] = (0.0, 0.0, 0.0),
    focal: float = FOCAL,
) -> torch.Tensor:
    """Labels in the parameterisation of PanoHead's scripts (radians, pi/2, pi/2 = frontal).

    The polar angle is arccos(1 - 2 v / pi), so ``vertical`` is not linear in elevation. Useful
    to reproduce camera paths written for the reference scripts.
    """
    h = torch.as_tensor(horizontal, dtype=torch.float32).reshape(-1, 1)
    v = torch.as_tensor(vertical, dtype=torch.float32).reshape(-1, 1)
    h, v = torch.broadcast_tensors(h, v)
    v = v.clamp(1e-5, math.pi - 1e-5)
    phi = torch.arccos(1 - 2 * (v / math.pi))
    origins = torch.cat(
        (
            radius * torch.sin(phi) * torch.cos(math.pi - h),
            radius * torch.cos(phi),
            radius * torch.sin(phi) * torch.sin(math.pi - h),
        ),
        dim=-1,
    )
    targets = torch.as_tensor(target, dtype=torch.float32).expand_as(origins)
    return labels(look_at(origins, targets), focal)


def conditioning_camera(batch: int = 1, focal: float = FOCAL) -> torch.Tensor:
    """The frontal label PanoHead conditions the mapping network on when sampling."""
    return orbit_cameras([0.0] * batch, 0.0, focal=focal)


def project(
    points: torch.Tensor, label: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Project world ``points`` [M, 3] through one camera ``label`` [25].

    Returns (normalised image coordinates [M, 2] with (0, 0) the top-left corner and (1, 1) the
    bottom-right, distance from the camera centre [M] (what the renderer's depth measures),
    and a mask of points in front of the camera).
    """
    cam2world = label[:16].reshape(4, 4).to(points.dtype)
    k = label[16:25].reshape(3, 3).to(points.dtype)
    origin = cam2world[:3, 3]
    local = (points - origin) @ cam2world[:3, :3]  # world -> camera axes (rotation transpose)
    z = local[:, 2]
    safe_z = torch.where(z.abs() < 1e-9, torch.full_like(z, 1e-9), z)
    x = k[0, 0] * local[:, 0] / safe_z + k[0, 1] * local[:, 1] / safe_z + k[0, 2]
    y = k[1, 1] * local[:, 1] / safe_z + k[1, 2]
    return torch.stack((x, y), dim=-1), (points - origin).norm(dim=-1), z > 1e-6
