"""Marching cubes on a density lattice, with vertices in the generator's world frame."""

from __future__ import annotations

import mcubes
import numpy as np

from .density_grid import EMPTY, DensityGrid


def marching_cubes(grid: DensityGrid, level: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Iso-surface ``sigma = level`` -> (vertices [V, 3] float32 world, faces [F, 3] int32).

    The lattice is padded with empty values so the surface is closed where the head touches
    the box; faces are wound counter-clockwise seen from outside (low density).
    """
    padded = np.pad(grid.values, 1, constant_values=EMPTY)
    vertices, faces = mcubes.marching_cubes(padded, level)
    vertices = (grid.lower + (vertices - 1.0) * grid.spacing).astype(np.float32)
    faces = faces.astype(np.int32)
    if len(faces) and _signed_volume(vertices, faces) < 0:
        faces = faces[:, ::-1].copy()
    return vertices, faces


def _signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (vertices[faces[:, k]].astype(np.float64) for k in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)
