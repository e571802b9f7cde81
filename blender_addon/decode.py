"""Blender-free conversion of backend results into what the scene builder writes with foreach_set.

The generator's frame is +y up with the face toward +z; Blender's is +z up with the front
toward -y. ``generator_to_blender`` is the one place that converts between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Rotation by +90 degrees about x: (x, y, z) -> (x, -z, y). Subject's left stays +x.
GENERATOR_TO_BLENDER = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], dtype=np.float32)


def generator_to_blender(points: np.ndarray) -> np.ndarray:
    """[..., 3] points or directions from the generator's frame to Blender's."""
    return np.ascontiguousarray(np.asarray(points, np.float32) @ GENERATOR_TO_BLENDER.T)


def blender_to_generator(points: np.ndarray) -> np.ndarray:
    """The inverse of ``generator_to_blender`` (the rotation's transpose)."""
    return np.ascontiguousarray(np.asarray(points, np.float32) @ GENERATOR_TO_BLENDER)


@dataclass(frozen=True)
class MeshData:
    vertices: np.ndarray  # [V, 3] float32, Blender frame
    faces: np.ndarray  # [F, 3] int32
    normals: np.ndarray  # [V, 3] float32, Blender frame
    corner_uv: np.ndarray | None  # [F * 3, 2] float32, one per face corner
    pixels: np.ndarray | None  # flat float32 RGBA, rows bottom to top (Blender's order)
    size: tuple[int, int] | None  # texture (width, height)


class ResultError(ValueError):
    """A result whose arrays do not make a mesh."""


def mesh_from_result(arrays: dict[str, np.ndarray]) -> MeshData:
    """Validate a 'generate' result and lay it out for Blender."""
    try:
        vertices, faces, normals = arrays["vertices"], arrays["faces"], arrays["normals"]
    except KeyError as exc:
        raise ResultError(f"the backend's result has no {exc.args[0]!r} array") from None
    if vertices.ndim != 2 or vertices.shape[1] != 3 or normals.shape != vertices.shape:
        raise ResultError("the backend's vertices or normals are not [N, 3] arrays")
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise ResultError("the backend's faces are not a non-empty [F, 3] array")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise ResultError("the backend's faces point at vertices that do not exist")
    corner_uv = pixels = size = None
    if "uv" in arrays and "texture" in arrays:
        uv, texture = arrays["uv"], arrays["texture"]
        if uv.shape != (len(vertices), 2) or texture.ndim != 3 or texture.shape[2] != 3:
            raise ResultError("the backend's uv or texture arrays have the wrong shape")
        corner_uv = np.ascontiguousarray(uv[faces.reshape(-1)], dtype=np.float32)
        height, width = texture.shape[:2]
        rgba = np.empty((height, width, 4), np.float32)
        rgba[..., :3] = texture[::-1] / np.float32(255.0)  # Blender stores rows bottom-up
        rgba[..., 3] = 1.0
        pixels, size = rgba.reshape(-1), (width, height)
    # UV atlases split vertices along chart seams; Blender keeps UVs per face corner, so the
    # copies are welded back: no shading seams, and the surface stays one piece when posed.
    welded, inverse = np.unique(vertices, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    summed = np.zeros_like(welded, dtype=np.float64)
    np.add.at(summed, inverse, normals)
    summed /= np.linalg.norm(summed, axis=1, keepdims=True).clip(1e-12)
    return MeshData(
        generator_to_blender(welded),
        np.ascontiguousarray(inverse[faces], dtype=np.int32),
        generator_to_blender(summed),
        corner_uv,
        pixels,
        size,
    )
