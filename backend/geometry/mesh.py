"""The triangle mesh passed between geometry, texture, rigging and the add-on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Mesh:
    """Vertices [V, 3] float32 in the generator's world frame, faces [F, 3] int32 (counter-
    clockwise seen from outside), unit vertex normals [V, 3] float32."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray

    @property
    def bounds(self) -> np.ndarray:
        """[[min x, y, z], [max x, y, z]]."""
        return np.stack([self.vertices.min(axis=0), self.vertices.max(axis=0)])
