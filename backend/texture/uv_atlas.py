"""UV atlas generation with xatlas."""

from __future__ import annotations

import numpy as np
import xatlas

from ..geometry import Mesh


def unwrap(mesh: Mesh, size: int, padding: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Charts packed for a ``size`` x ``size`` texture with ``padding`` texels between them.

    Returns (source vertex of each atlas vertex [V'], faces over atlas vertices [F, 3],
    uv [V', 2] in [0, 1] with v up). Vertices on chart seams are duplicated.
    """
    atlas = xatlas.Atlas()
    atlas.add_mesh(mesh.vertices, mesh.faces, mesh.normals)
    pack = xatlas.PackOptions()
    pack.resolution = size
    pack.padding = padding
    pack.bilinear = True
    atlas.generate(xatlas.ChartOptions(), pack)
    vmapping, faces, uv = atlas[0]
    return vmapping.astype(np.int64), faces.astype(np.int32), uv.astype(np.float32)
