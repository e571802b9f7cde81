"""``rig``: bind a head mesh to FLAME or the open template; writes the rig arrays (.npz)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import trimesh

from ..common.settings import RigSettings
from ..progress import progress_bar
from ..rigging import bind_rig, open_rig_model, save_rig
from ..rigging.bind import check_head_mesh
from .options import add_settings, settings_from, writable_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rig", help="bind a head mesh to a FLAME-layout rig")
    p.add_argument("--mesh", type=Path, required=True, help="head mesh (.glb, .obj, .ply)")
    add_settings(p, RigSettings)
    p.add_argument("--out", type=Path, required=True, help="output rig (.npz)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args, RigSettings)
    writable_file(args.out)
    vertices, faces, normals = read_mesh(args.mesh)
    start = time.perf_counter()
    model = open_rig_model(settings.model)
    with progress_bar("binding") as bar:
        rig = bind_rig(model, vertices, faces, normals, progress=bar)
    written = save_rig(rig, args.out)
    fit = rig.fit
    print(
        f"{model.name}: scale {fit.scale:.3f} units/m, residual {fit.residual:.4f} "
        f"({fit.relative_residual:.2%} of head height), {int(rig.matched.sum()):,}/"
        f"{len(rig.vertices):,} vertices matched, {time.perf_counter() - start:.1f} s"
    )
    print(f"wrote {written}")
    return 0


def read_mesh(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices, triangles and vertex normals of a head mesh file, or one clear error."""
    if not path.is_file():
        raise ValueError(f"--mesh {path} not found: give the path of a .glb, .obj or .ply head")
    try:
        loaded = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # noqa: BLE001 - trimesh raises many kinds on a damaged file
        raise ValueError(
            f"--mesh {path} could not be read as a mesh ({type(exc).__name__}: {exc}). "
            "Export it again as .glb, .obj or .ply."
        ) from None
    vertices = np.asarray(loaded.vertices, np.float32)
    faces = np.asarray(loaded.faces, np.int32).reshape(-1, 3)
    check_head_mesh(vertices, faces)  # before normals: trimesh cannot make them for no faces
    return vertices, faces, np.asarray(loaded.vertex_normals, np.float32)
