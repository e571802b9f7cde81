"""Turning a raw marching-cubes surface into a clean head mesh."""

from __future__ import annotations

import fast_simplification
import numpy as np
import trimesh

from .mesh import Mesh


def clean_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    min_component: float = 0.02,
    smooth_iterations: int = 0,
    target_faces: int | None = None,
) -> Mesh:
    """Keep the head, fix orientation, optionally smooth and decimate.

    Components with fewer faces than ``min_component`` times the largest one (floaters) are
    dropped. Smoothing is Taubin's (lambda/mu), which does not shrink the head. Decimation is
    quadric edge collapse down to ``target_faces``.
    """
    if len(faces) == 0:
        raise ValueError(
            "the density field has no surface at this iso level: nothing to mesh "
            "(try a lower --level, or check the latent)"
        )
    mesh = trimesh.Trimesh(vertices, faces, process=True)
    parts = mesh.split(only_watertight=False)
    if len(parts) > 1:
        largest = max(len(p.faces) for p in parts)
        mesh = trimesh.util.concatenate(
            [p for p in parts if len(p.faces) >= min_component * largest]
        )
    trimesh.repair.fix_normals(mesh, multibody=True)
    if smooth_iterations > 0:
        trimesh.smoothing.filter_taubin(mesh, iterations=smooth_iterations)
    if target_faces is not None and len(mesh.faces) > target_faces:
        reduction = 1.0 - target_faces / len(mesh.faces)
        v, f = fast_simplification.simplify(
            mesh.vertices.astype(np.float32), mesh.faces.astype(np.int32), reduction
        )
        mesh = trimesh.Trimesh(v, f, process=True)
        trimesh.repair.fix_normals(mesh, multibody=True)
    return Mesh(
        vertices=np.asarray(mesh.vertices, dtype=np.float32),
        faces=np.asarray(mesh.faces, dtype=np.int32),
        normals=np.asarray(mesh.vertex_normals, dtype=np.float32),
    )
