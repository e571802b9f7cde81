"""Writing meshes to files artists open: glTF binary, OBJ + MTL + PNG, PLY.

The generator's world frame (+y up, face toward +z) is glTF's and OBJ's convention already,
so vertices are written as they are, in the generator's units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from .geometry import Mesh
from .texture import TexturedMesh

FORMATS = (".glb", ".obj", ".ply")


def to_trimesh(mesh: Mesh | TexturedMesh, name: str = "panorig_head") -> trimesh.Trimesh:
    visual = None
    if isinstance(mesh, TexturedMesh):
        material = trimesh.visual.material.PBRMaterial(
            name=name,
            baseColorTexture=Image.fromarray(mesh.image),
            metallicFactor=0.0,
            roughnessFactor=0.6,
        )
        visual = trimesh.visual.TextureVisuals(uv=mesh.uv, material=material)
    return trimesh.Trimesh(
        mesh.vertices, mesh.faces, vertex_normals=mesh.normals, visual=visual, process=False
    )


def export_mesh(mesh: Mesh | TexturedMesh, path: str | Path) -> list[Path]:
    """Write ``mesh`` in the format named by ``path``'s suffix; returns every file written.

    OBJ writes its .mtl and texture .png beside it; PLY carries the texture as vertex colours.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"unsupported mesh format {path.suffix!r}; use one of {', '.join(FORMATS)}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tm = to_trimesh(mesh, name=path.stem)
    if suffix == ".ply":
        if isinstance(mesh, TexturedMesh):
            tm.visual = trimesh.visual.ColorVisuals(tm, vertex_colors=_vertex_colours(mesh))
        tm.export(path)
        return [path]
    if suffix == ".glb":
        tm.export(path)
        return [path]
    # Name the .mtl and texture after the .obj so several heads can share a folder.
    text, extra = trimesh.exchange.obj.export_obj(
        tm, return_texture=True, mtl_name=f"{path.stem}.mtl", header="PanoRig"
    )
    path.write_text(text)
    written = [path]
    for name, data in extra.items():
        (path.parent / name).write_bytes(data)
        written.append(path.parent / name)
    return written


def _vertex_colours(mesh: TexturedMesh) -> np.ndarray:
    px = mesh.uv_pixels()
    h, w = mesh.image.shape[:2]
    rows = np.clip(px[:, 1].astype(int), 0, h - 1)
    cols = np.clip(px[:, 0].astype(int), 0, w - 1)
    rgb = mesh.image[rows, cols]
    return np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], axis=1)
