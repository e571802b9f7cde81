"""A UV-mapped mesh with its texture image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TexturedMesh:
    """Vertices [V, 3] float32 (world frame), faces [F, 3] int32, unit normals [V, 3] float32,
    uv [V, 2] float32 with (0, 0) the image's bottom-left corner (Blender/OpenGL convention),
    and the texture image [H, W, 3] uint8 sRGB, row 0 at the top."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    uv: np.ndarray
    image: np.ndarray

    def uv_pixels(self) -> np.ndarray:
        """UVs in pixel units of the texture: x to the right, y down (row)."""
        h, w = self.image.shape[:2]
        return np.stack((self.uv[:, 0] * w, (1.0 - self.uv[:, 1]) * h), axis=-1)
