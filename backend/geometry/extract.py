"""Mesh extraction from a generator: density lattice -> marching cubes -> clean-up."""

from __future__ import annotations

from typing import Protocol

import torch

from ..progress import Progress, report, scaled
from .cleanup import clean_mesh
from .density_grid import DensityGrid, Field, GridRegion, coarse_to_fine_grid, dense_grid
from .marching import marching_cubes
from .mesh import Mesh

PANOHEAD_LEVEL = 10.0  # raw sigma iso level of PanoHead's mesh scripts (density softplus(9))


class DensitySource(Protocol):
    """What extraction needs from a generator (``TriGridGenerator`` or any stand-in)."""

    def synthesize_grids(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor: ...

    def query(self, grids: torch.Tensor, points: torch.Tensor) -> dict[str, torch.Tensor]: ...


def density_field(G: DensitySource, ws: torch.Tensor, noise_mode: str = "const") -> Field:
    """Raw sigma of one latent (``ws`` [1, num_ws, w_dim]) at world points [M, 3]."""
    if ws.shape[0] != 1:
        raise ValueError(f"extract one head at a time: ws has batch size {ws.shape[0]}")
    with torch.no_grad():
        grids = G.synthesize_grids(ws, noise_mode)

    def field(points: torch.Tensor) -> torch.Tensor:
        return G.query(grids, points[None])["sigma"][0, :, 0]

    return field


def density_lattice(
    G: DensitySource,
    ws: torch.Tensor,
    resolution: int = 256,
    level: float = PANOHEAD_LEVEL,
    region: GridRegion | None = None,
    dense: bool = False,
    chunk: int = 2**18,
    progress: Progress | None = None,
) -> DensityGrid:
    """The density lattice of a head, coarse-to-fine unless ``dense``."""
    field = density_field(G, ws)
    box = float(G.config.box_warp)
    if dense:
        return dense_grid(field, resolution, box, region, chunk, ws.device, progress)
    return coarse_to_fine_grid(
        field, resolution, level, box, region, chunk=chunk, device=ws.device, progress=progress
    )


def extract_mesh(
    G: DensitySource,
    ws: torch.Tensor,
    resolution: int = 256,
    level: float = PANOHEAD_LEVEL,
    region: GridRegion | None = None,
    target_faces: int | None = None,
    smooth_iterations: int = 3,
    min_component: float = 0.02,
    dense: bool = False,
    chunk: int = 2**18,
    progress: Progress | None = None,
) -> Mesh:
    """A clean, closed head mesh in world units (+y up, face toward +z).

    ``resolution`` is the number of lattice cells across the generator's box (128-512 on a CPU,
    up to 1024 on a GPU); ``region`` sets PanoHead's border trim and an optional neck cut.
    """
    grid = density_lattice(
        G, ws, resolution, level, region, dense, chunk, scaled(progress, 0.0, 0.8)
    )
    report(progress, 0.8, "marching cubes")
    vertices, faces = marching_cubes(grid, level)
    report(progress, 0.85, "clean-up")
    mesh = clean_mesh(vertices, faces, min_component, smooth_iterations, target_faces)
    report(progress, 1.0, "clean-up")
    return mesh
