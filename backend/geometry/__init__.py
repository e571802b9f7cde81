"""Geometry: density lattices (dense or coarse-to-fine), mesh regions, marching cubes, clean-up."""

from .cleanup import clean_mesh
from .density_grid import DensityGrid, GridRegion, coarse_to_fine_grid, dense_grid
from .extract import PANOHEAD_LEVEL, density_field, density_lattice, extract_mesh
from .marching import marching_cubes
from .mesh import Mesh
from .regions import SUBJECT_REGIONS, region_for

__all__ = [
    "PANOHEAD_LEVEL",
    "SUBJECT_REGIONS",
    "DensityGrid",
    "GridRegion",
    "Mesh",
    "clean_mesh",
    "coarse_to_fine_grid",
    "density_field",
    "density_lattice",
    "dense_grid",
    "extract_mesh",
    "marching_cubes",
    "region_for",
]
