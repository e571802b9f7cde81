"""From a head mesh to a rig: choose the rig model, fit it, transfer it."""

from __future__ import annotations

import os

import numpy as np
import trimesh

from ..common.errors import PanoRigError
from ..common.settings import MIN_RIG_FACES
from ..progress import Progress, scaled
from .fit import fit_model
from .head_model import HeadModel
from .transfer import Rig, transfer

TEMPLATE = "template"


def open_rig_model(spec: str | os.PathLike = TEMPLATE) -> HeadModel:
    """'template' (the open MakeHuman head) or the path of the user's own FLAME file."""
    if str(spec) == TEMPLATE:
        from .template import build_template

        return build_template()
    from .flame_file import load_flame

    return load_flame(spec)


def bind_rig(
    model: HeadModel,
    vertices: np.ndarray,
    faces: np.ndarray,
    normals: np.ndarray | None = None,
    progress: Progress | None = None,
) -> Rig:
    """Fit ``model`` to the head mesh (generator frame) and bind the mesh to it."""
    check_head_mesh(vertices, faces)
    if normals is None:
        normals = trimesh.Trimesh(vertices, faces, process=False).vertex_normals
    fit = fit_model(model, vertices, faces, progress=scaled(progress, 0.0, 0.6))
    return transfer(model, fit, vertices, faces, normals, progress=scaled(progress, 0.6, 1.0))


class HeadMeshError(PanoRigError):
    """The mesh given for binding is not a head that a rig model can be fitted to."""

    code = "bad_mesh"


def check_head_mesh(vertices: np.ndarray, faces: np.ndarray) -> None:
    """Refuse, before any work, what fitting cannot bind: too few faces, broken arrays."""
    hint = (
        "Bind a head made by PanoRig (Generate, or 'python -m backend mesh') or another closed "
        "head mesh."
    )
    vertices, faces = np.asarray(vertices), np.asarray(faces)
    count = len(faces) if faces.ndim == 2 else 0
    if count < MIN_RIG_FACES:
        raise HeadMeshError(
            f"the mesh has {count:,} face{'' if count == 1 else 's'}; rigging needs a closed "
            f"head mesh of at least {MIN_RIG_FACES:,} faces.",
            hint,
        )
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.shape[1] != 3:
        raise HeadMeshError(
            f"the mesh arrays have shapes {vertices.shape} and {faces.shape}; rigging needs "
            "vertices [V, 3] and triangles [F, 3].",
            hint,
        )
    if not np.all(np.isfinite(vertices)):
        raise HeadMeshError("the mesh has vertices that are NaN or infinite.", hint)
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise HeadMeshError(
            f"the mesh's faces index vertices outside 0..{len(vertices) - 1}.", hint
        )
    extent = vertices.max(axis=0) - vertices.min(axis=0)
    if extent.min() <= 1e-9 * max(float(extent.max()), 1.0):
        raise HeadMeshError("the mesh is flat: all its vertices lie in one plane.", hint)
