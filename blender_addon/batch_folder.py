"""A batch folder (``python -m backend batch --out DIR``) as Blender sees it, and the crowd grid.

Blender-free: no bpy (and no pyarrow, which Blender lacks), so it is tested without Blender. The
heads are read from the files themselves: the batch publishes each file whole under its final
name (temporary names start with "."), so every ``heads/<key>.glb`` is a finished head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

HEADS = "heads"
RIG_SUFFIX = ".rig.npz"


@dataclass(frozen=True)
class BatchHead:
    key: str  # "seed_000042": the object's name in Blender
    mesh: Path  # the .glb
    rig: Path | None  # its rig arrays, when the batch bound one


def batch_heads(folder: str | Path, limit: int = 0) -> list[BatchHead]:
    """The finished heads of a batch folder, by name (the first ``limit``; 0 = all)."""
    heads = Path(folder) / HEADS
    if not heads.is_dir():
        raise ValueError(
            f"{folder} is not a batch folder (it has no {HEADS}/ folder): choose the --out "
            "folder of 'python -m backend batch'."
        )
    meshes = sorted(p for p in heads.glob("*.glb") if not p.name.startswith("."))
    if not meshes:
        raise ValueError(
            f"{heads} has no finished .glb heads yet: run the batch with --formats glb."
        )
    if limit:
        meshes = meshes[:limit]
    found = []
    for mesh in meshes:
        rig = mesh.with_name(mesh.stem + RIG_SUFFIX)
        found.append(BatchHead(mesh.stem, mesh, rig if rig.is_file() else None))
    return found


def grid_positions(count: int, spacing: float) -> list[tuple[float, float]]:
    """(x, y) of ``count`` heads in a near-square grid centred on the origin: rows across X,
    row after row going back along +Y (the heads face -Y, toward Blender's front view)."""
    columns = max(1, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    x0, y0 = (columns - 1) * spacing / 2, (rows - 1) * spacing / 2
    return [(i % columns * spacing - x0, i // columns * spacing - y0) for i in range(count)]
