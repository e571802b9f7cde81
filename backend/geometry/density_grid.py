"""Raw density on a regular lattice over the generator's box: dense, or coarse-to-fine.

The lattice has ``resolution + 1`` points per axis spanning [-box/2, box/2] (so ``resolution``
cells of size box/resolution); ``values[i, j, k]`` is the raw sigma at (x_i, y_j, z_k).
Coarse-to-fine evaluates a coarse lattice, then at each finer level queries only the points of
cells the iso-surface may cross (plus a safety margin of neighbouring cells) and interpolates the
rest, which are far from the surface and only need the right side of the iso level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..progress import Progress, report, scaled

Field = Callable[[torch.Tensor], torch.Tensor]  # world points [M, 3] -> raw sigma [M]

EMPTY = -1000.0  # value given to trimmed points, as in PanoHead's mesh scripts
PANOHEAD_BORDER = 30 / 256  # PanoHead trims int(30 N / 256) voxels on every face of the box


Interval = tuple[float, float]


@dataclass(frozen=True)
class GridRegion:
    """Where the field is queried; the rest of the box counts as empty.

    ``border`` trims that fraction of the box on every face (PanoHead's convention); ``neck_y``
    empties everything below that world height, which gives the head a flat, closed neck cut.
    ``bounds`` ((x0, x1), (y0, y1), (z0, z1)) keeps only that world box (the face region of a
    front-facing generator) and ``back_z`` empties everything behind that depth (a flat, closed
    cut behind a face whose back merges into the background).
    """

    border: float = PANOHEAD_BORDER
    neck_y: float | None = None
    bounds: tuple[Interval, Interval, Interval] | None = None
    back_z: float | None = None

    def axis_masks(
        self, coords: torch.Tensor, box: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        inside = coords.abs() <= box / 2 - self.border * box + 1e-6
        x = y = z = inside
        if self.bounds is not None:
            x, y, z = (inside & _within(coords, lo, hi) for lo, hi in self.bounds)
        if self.neck_y is not None:
            y = y & (coords >= self.neck_y)
        if self.back_z is not None:
            z = z & (coords >= self.back_z)
        return x, y, z


def _within(coords: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return (coords >= low - 1e-6) & (coords <= high + 1e-6)


@dataclass(frozen=True)
class DensityGrid:
    values: np.ndarray  # [R+1, R+1, R+1] float32
    lower: float  # world coordinate of index 0 on every axis
    spacing: float  # world distance between neighbouring lattice points
    queries: int  # field evaluations spent

    @property
    def resolution(self) -> int:
        return self.values.shape[0] - 1


def _coords(resolution: int, stride: int, box: float, device: torch.device) -> torch.Tensor:
    return -box / 2 + torch.arange(0, resolution + 1, stride, device=device) * (box / resolution)


def _region_mask(
    region: GridRegion, resolution: int, stride: int, box: float, device: torch.device
) -> torch.Tensor:
    mx, my, mz = region.axis_masks(_coords(resolution, stride, box, device), box)
    return mx[:, None, None] & my[None, :, None] & mz[None, None, :]


def _evaluate(
    field: Field,
    mask: torch.Tensor,
    values: torch.Tensor,
    coords: torch.Tensor,
    chunk: int,
    progress: Progress | None,
    stage: str,
) -> int:
    """Fill ``values[mask]`` with the field at the lattice points ``coords``; returns the count.

    Works in x-slabs so that index lists stay small even for a dense 1024^3 lattice.
    """
    total = int(mask.sum())
    done = 0
    ny, nz = mask.shape[1], mask.shape[2]
    rows = max(1, chunk // (ny * nz))
    for x0 in range(0, mask.shape[0], rows):
        idx = torch.nonzero(mask[x0 : x0 + rows])
        for start in range(0, idx.shape[0], chunk):
            part = idx[start : start + chunk]
            points = torch.stack(
                (coords[part[:, 0] + x0], coords[part[:, 1]], coords[part[:, 2]]), dim=-1
            )
            sigma = field(points).reshape(-1).to(values.dtype)
            values[part[:, 0] + x0, part[:, 1], part[:, 2]] = sigma
            done += part.shape[0]
            report(progress, done / max(total, 1), stage)
    return total


def dense_grid(
    field: Field,
    resolution: int,
    box: float = 1.0,
    region: GridRegion | None = None,
    chunk: int = 2**18,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> DensityGrid:
    """Every lattice point inside the region queried: the reference path."""
    device = torch.device(device)
    region = region or GridRegion()
    mask = _region_mask(region, resolution, 1, box, device)
    values = torch.full(mask.shape, EMPTY, device=device)
    with torch.no_grad():
        count = _evaluate(
            field, mask, values, _coords(resolution, 1, box, device), chunk, progress, "density"
        )
    return DensityGrid(values.cpu().numpy(), -box / 2, box / resolution, count)


def coarse_to_fine_grid(
    field: Field,
    resolution: int,
    level: float = 10.0,
    box: float = 1.0,
    region: GridRegion | None = None,
    coarse: int = 32,
    margin: int = 1,
    chunk: int = 2**18,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> DensityGrid:
    """Queries only near the ``level`` iso-surface; elsewhere values are interpolated.

    Starts from the coarsest lattice with at least ``coarse`` cells that halves down to
    ``resolution``; each level refines the cells whose corners straddle ``level``, grown by
    ``margin`` cells (``margin + 1`` on the coarsest level, where thin parts hide best).
    """
    device = torch.device(device)
    region = region or GridRegion()
    levels = 0
    while resolution % 2 ** (levels + 1) == 0 and resolution // 2 ** (levels + 1) >= coarse:
        levels += 1
    if levels == 0:
        return dense_grid(field, resolution, box, region, chunk, device, progress)

    stride = 2**levels
    with torch.no_grad():
        mask = _region_mask(region, resolution, stride, box, device)
        values = torch.full(mask.shape, EMPTY, device=device)
        queries = _evaluate(
            field,
            mask,
            values,
            _coords(resolution, stride, box, device),
            chunk,
            _level_progress(progress, 0, levels),
            "density (coarse)",
        )
        exact = mask.clone()  # evaluated or trimmed, as opposed to interpolated
        for step in range(1, levels + 1):
            stride //= 2
            grow = margin + 1 if step == 1 else margin
            cells = _crossing_cells(values, level, grow)
            n = values.shape[0]
            fine = F.interpolate(
                values[None, None], size=(2 * n - 1,) * 3, mode="trilinear", align_corners=True
            )[0, 0]
            fine_exact = torch.zeros_like(fine, dtype=torch.bool)
            fine_exact[::2, ::2, ::2] = exact
            inside = _region_mask(region, resolution, stride, box, device)
            fine[~inside] = EMPTY
            fine_exact |= ~inside
            near = _cells_to_points(cells)
            todo = near & ~fine_exact
            queries += _evaluate(
                field,
                todo,
                fine,
                _coords(resolution, stride, box, device),
                chunk,
                _level_progress(progress, step, levels),
                f"density (level {step}/{levels})",
            )
            values, exact = fine, fine_exact | todo
    return DensityGrid(values.cpu().numpy(), -box / 2, box / resolution, queries)


def _crossing_cells(values: torch.Tensor, level: float, grow: int) -> torch.Tensor:
    """Cells [n-1]^3 whose 8 corners straddle ``level``, dilated by ``grow`` cells."""
    v = values[None, None]
    high = F.max_pool3d(v, 2, stride=1)[0, 0]
    low = -F.max_pool3d(-v, 2, stride=1)[0, 0]
    cells = ((high >= level) & (low < level)).float()
    if grow > 0:
        cells = F.max_pool3d(cells[None, None], 2 * grow + 1, stride=1, padding=grow)[0, 0]
    return cells > 0


def _cells_to_points(cells: torch.Tensor) -> torch.Tensor:
    """Marked cells at one stride -> all points of the half-stride lattice inside them."""
    fine_cells = cells.repeat_interleave(2, 0).repeat_interleave(2, 1).repeat_interleave(2, 2)
    points = F.max_pool3d(fine_cells[None, None].float(), 2, stride=1, padding=1)[0, 0]
    return points > 0


def _level_progress(progress: Progress | None, step: int, levels: int) -> Progress | None:
    # Later levels cost more queries; weight level k by 2^k.
    weights = [2**k for k in range(levels + 1)]
    start = sum(weights[:step]) / sum(weights)
    return scaled(progress, start, start + weights[step] / sum(weights))
