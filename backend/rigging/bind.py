"""From a head mesh to a rig: choose the rig model, fit it, transfer it."""

from __future__ import annotations

import os

import numpy as np
import trimesh

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
    if normals is None:
        normals = trimesh.Trimesh(vertices, faces, process=False).vertex_normals
    fit = fit_model(model, vertices, faces, progress=scaled(progress, 0.0, 0.6))
    return transfer(model, fit, vertices, faces, normals, progress=scaled(progress, 0.6, 1.0))
