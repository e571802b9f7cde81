"""Rendering a textured mesh through a generator camera (z-buffered, unlit), for checks and
previews without Blender."""

from __future__ import annotations

import numpy as np
import torch

from ..cameras import project
from .raster import rasterize
from .textured_mesh import TexturedMesh


def render_textured(
    mesh: TexturedMesh, label: torch.Tensor, resolution: int
) -> tuple[np.ndarray, np.ndarray]:
    """The mesh's texture as seen by camera ``label`` [25]: (rgb [R, R, 3] float in [0, 1],
    coverage [R, R] bool). Nearest texel lookup; no lighting (it shows the albedo)."""
    xy, distance, in_front = project(torch.from_numpy(mesh.vertices).double(), label.double())
    keep = in_front.numpy()[mesh.faces].all(axis=1)
    faces = mesh.faces[keep]
    pixels = xy.numpy() * resolution
    raster = rasterize(pixels[faces], resolution, resolution, depth=distance.numpy()[faces])
    covered = raster.face >= 0
    uv = mesh.uv_pixels()[faces[raster.face[covered]]]  # [P, 3, 2]
    texel = np.einsum("pk,pkc->pc", raster.bary[covered], uv)
    h, w = mesh.image.shape[:2]
    cols = np.clip(texel[:, 0].astype(int), 0, w - 1)
    rows = np.clip(texel[:, 1].astype(int), 0, h - 1)
    rgb = np.zeros((resolution, resolution, 3), np.float32)
    rgb[covered] = mesh.image[rows, cols] / 255.0
    return rgb, covered
