"""Camera framing and light placement for the demo, in plain numpy (no Blender).

Blender's frame: z up, a head faces -y. A camera on an orbit (yaw, pitch) looks along ``forward``;
``frame_points`` moves it along and across that line so the points' projection is centred and
fills a given share of a square frame's height. ``alpha_framing`` measures the same on a render.
"""

from __future__ import annotations

import math

import numpy as np

UP = np.array((0.0, 0.0, 1.0))


def orbit_basis(yaw_deg: float, pitch_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(forward, right, up) of a camera at yaw/pitch round a head facing -y (yaw 0 = front)."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    back = np.array(
        (math.cos(pitch) * math.sin(yaw), -math.cos(pitch) * math.cos(yaw), math.sin(pitch))
    )
    forward = -back
    right = np.cross(forward, UP)
    right /= np.linalg.norm(right)
    return forward, right, np.cross(right, forward)


def project(points: np.ndarray, eye: np.ndarray, basis, fov_deg: float) -> np.ndarray:
    """Points -> (N, 2) frame coordinates in [-1, 1] across a square frame's full field of view."""
    forward, right, up = basis
    rel = np.asarray(points, dtype=np.float64) - eye
    depth = rel @ forward
    scale = math.tan(math.radians(fov_deg) / 2) * depth
    return np.stack((rel @ right / scale, rel @ up / scale), axis=1)


def frame_points(
    points: np.ndarray,
    yaw_deg: float,
    pitch_deg: float,
    fov_deg: float,
    fill: float = 0.75,
    max_width: float = 0.9,
) -> tuple[np.ndarray, np.ndarray]:
    """Camera position and look direction that centre ``points`` and make them ``fill`` of the
    frame height (narrower if their width would pass ``max_width``), for a square frame.

    Perspective makes both depend on the distance, so a few fixed-point steps settle them.
    """
    points = np.asarray(points, dtype=np.float64)
    basis = orbit_basis(yaw_deg, pitch_deg)
    forward, right, up = basis
    target = (points.min(axis=0) + points.max(axis=0)) / 2
    size = float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))
    distance = size / (fill * math.tan(math.radians(fov_deg) / 2))
    for _ in range(12):
        eye = target - distance * forward
        uv = project(points, eye, basis, fov_deg)
        low, high = uv.min(axis=0), uv.max(axis=0)
        centre, extent = (low + high) / 2, (high - low) / 2
        half_view = math.tan(math.radians(fov_deg) / 2) * distance
        target = target + half_view * (centre[0] * right + centre[1] * up)
        distance *= max(extent[1] / fill, extent[0] / max_width)
    return target - distance * forward, forward


def three_point_lights(basis) -> dict[str, np.ndarray]:
    """Travel directions of a key, fill and rim light placed relative to the camera (so a
    turntable keeps the same lighting on every view, as if the head turned under the lights)."""
    forward, right, up = basis

    def coming_from(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
        az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
        source = math.cos(el) * (math.cos(az) * -forward + math.sin(az) * right) + math.sin(el) * up
        return -source / np.linalg.norm(source)

    # key high on camera left, low fill on the right, rim from behind to separate head and
    # background
    return {"Key": coming_from(-40, 35), "Fill": coming_from(55, 5), "Rim": coming_from(150, 40)}


def alpha_framing(alpha: np.ndarray, threshold: float = 0.5) -> tuple[float, float, float]:
    """(x offset, y offset, height fraction) of the opaque pixels' bounding box in an (H, W)
    alpha image in [0, 1]: offsets of its centre from the frame centre as fractions of the frame.
    """
    rows = np.flatnonzero((alpha > threshold).any(axis=1))
    cols = np.flatnonzero((alpha > threshold).any(axis=0))
    if rows.size == 0:
        raise ValueError("nothing opaque in the frame")
    height, width = alpha.shape
    dx = ((cols[0] + cols[-1] + 1) / 2 - width / 2) / width
    dy = ((rows[0] + rows[-1] + 1) / 2 - height / 2) / height
    return float(dx), float(dy), float((rows[-1] - rows[0] + 1) / height)
