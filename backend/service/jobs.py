"""What the service can do: operations as plain functions of validated parameters.

Each operation gets a ``JobContext`` (parameters, progress callback that also cancels, the
model cache) and returns the result's JSON data and arrays. The server only routes messages.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..cameras import orbit_cameras
from ..geometry import PANOHEAD_LEVEL, GridRegion, extract_mesh
from ..geometry.density_grid import PANOHEAD_BORDER
from ..imaging import image_to_uint8
from ..models import open_generator
from ..progress import Progress, scaled
from ..rigging import TEMPLATE, HeadModel, bind_rig, open_rig_model
from ..sampling import seed_ws
from ..texture import DEFAULT_VIEWS, bake_texture


class JobCancelledError(Exception):
    """Raised from the progress callback when the client cancelled the job."""


class BadParameterError(ValueError):
    """A request parameter is missing, of the wrong type or out of range."""


@dataclass
class JobContext:
    params: dict[str, Any]
    arrays: dict[str, np.ndarray]  # arrays sent with the request
    progress: Progress  # raises JobCancelledError once the job is cancelled
    preview: Callable[[np.ndarray], None]  # sends a small uint8 [H, W, 3] preview image
    models: ModelCache


class ModelCache:
    """Generators by checkpoint spec, kept on the service's device until released."""

    def __init__(self, device: str, default_checkpoint: str | None) -> None:
        self.device = device
        self.default_checkpoint = default_checkpoint
        self._models: dict[str, torch.nn.Module] = {}
        self._rig_models: dict[str, HeadModel] = {}

    def get(self, spec: str | None) -> torch.nn.Module:
        spec = spec or self.default_checkpoint
        if not spec:
            raise BadParameterError(
                "no checkpoint given and the backend was started without --checkpoint"
            )
        if spec not in self._models:
            self._models[spec] = open_generator(spec, self.device)
        return self._models[spec]

    def rig_model(self, spec: str) -> HeadModel:
        if spec not in self._rig_models:
            self._rig_models[spec] = open_rig_model(spec)
        return self._rig_models[spec]

    def loaded(self) -> list[str]:
        return list(self._models)

    def release(self) -> int:
        count = len(self._models)
        self._models.clear()
        self._rig_models.clear()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return count


def _param(params: dict, name: str, kind: type, default: Any, lo: float, hi: float) -> Any:
    value = params.get(name, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadParameterError(f"parameter {name!r} must be a {kind.__name__}, got {value!r}")
    if not lo <= value <= hi:
        raise BadParameterError(f"parameter {name!r} must be between {lo} and {hi}, got {value}")
    return value


def generate(ctx: JobContext) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Seed -> textured head mesh (vertices, faces, normals, uv, texture) in the generator frame."""
    p = ctx.params
    unknown = set(p) - {
        "checkpoint",
        "seed",
        "psi",
        "resolution",
        "faces",
        "texture",
        "views",
        "level",
        "border",
        "neck_y",
        "smooth",
        "preview",
    }
    if unknown:
        raise BadParameterError(f"unknown parameters {sorted(unknown)}")
    checkpoint = p.get("checkpoint")
    if checkpoint is not None and not isinstance(checkpoint, str):
        raise BadParameterError("parameter 'checkpoint' must be a path or a model name")
    seed = _param(p, "seed", int, 0, 0, 2**32 - 1)
    psi = _param(p, "psi", float, 0.7, 0.0, 2.0)
    resolution = _param(p, "resolution", int, 256, 16, 1024)
    faces = _param(p, "faces", int, 60000, 500, 2_000_000)
    texture = _param(p, "texture", int, 2048, 0, 8192)
    if texture and texture < 256:
        raise BadParameterError("parameter 'texture' must be 0 (none) or at least 256")
    views = _param(p, "views", int, len(DEFAULT_VIEWS), 0, len(DEFAULT_VIEWS))
    level = _param(p, "level", float, PANOHEAD_LEVEL, -1e4, 1e4)
    border = _param(p, "border", float, PANOHEAD_BORDER, 0.0, 0.45)
    smooth = _param(p, "smooth", int, 3, 0, 100)
    neck_y = p.get("neck_y")
    if neck_y is not None:
        neck_y = _param(p, "neck_y", float, None, -0.5, 0.5)

    start = time.perf_counter()
    ctx.progress(0.0, "loading model")
    G = ctx.models.get(checkpoint)
    ws = seed_ws(G, seed, psi)
    with torch.no_grad():
        if p.get("preview", True):
            ctx.progress(0.02, "preview")
            frontal = G.synthesis(ws, orbit_cameras(0.0, 0.0).to(ws.device), deterministic=True)
            ctx.preview(image_to_uint8(_downsample(frontal["image"][0], 128)))
        split = 0.5 if texture else 1.0
        mesh = extract_mesh(
            G,
            ws,
            resolution,
            level,
            GridRegion(border, neck_y),
            faces,
            smooth,
            progress=scaled(ctx.progress, 0.05, split),
        )
        result: dict[str, np.ndarray] = {
            "vertices": mesh.vertices,
            "faces": mesh.faces,
            "normals": mesh.normals,
        }
        if texture:
            textured = bake_texture(
                G, ws, mesh, texture, DEFAULT_VIEWS[:views], progress=scaled(ctx.progress, split, 1)
            )
            result = {
                "vertices": textured.vertices,
                "faces": textured.faces,
                "normals": textured.normals,
                "uv": textured.uv,
                "texture": textured.image,
            }
    data = {
        "seed": seed,
        "psi": psi,
        "seconds": round(time.perf_counter() - start, 3),
        "vertices": len(result["vertices"]),
        "faces": len(result["faces"]),
    }
    return data, result


def bind(ctx: JobContext) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Head mesh (generator frame) -> rig arrays: weights, joints, expression and corrective
    displacements, fitted to FLAME (the user's file) or the open template."""
    unknown = set(ctx.params) - {"model"}
    if unknown:
        raise BadParameterError(f"unknown parameters {sorted(unknown)}")
    spec = ctx.params.get("model", TEMPLATE)
    if not isinstance(spec, str) or not spec:
        raise BadParameterError("parameter 'model' must be 'template' or a FLAME file path")
    vertices, faces = ctx.arrays.get("vertices"), ctx.arrays.get("faces")
    if vertices is None or faces is None or vertices.ndim != 2 or vertices.shape[1] != 3:
        raise BadParameterError("send the head as 'vertices' [V, 3] and 'faces' [F, 3] arrays")
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0 or faces.max() >= len(vertices):
        raise BadParameterError("the 'faces' array does not index the vertices")
    ctx.progress(0.0, "loading rig model")
    model = ctx.models.rig_model(spec)
    rig = bind_rig(
        model, vertices.astype(np.float32), faces.astype(np.int32), progress=ctx.progress
    )
    fit = rig.fit
    data = {
        "model_name": rig.model_name,
        "release": rig.release,
        "joint_names": list(rig.joint_names),
        "expression_names": list(rig.expression_names),
        "scale": fit.scale,
        "offset": fit.offset.tolist(),
        "residual": fit.residual,
        "relative_residual": fit.relative_residual,
        "matched": int(rig.matched.sum()),
    }
    arrays = {
        "weights": rig.weights,
        "joints": rig.joints,
        "parents": np.asarray(rig.parents, np.int32),
        "expressions": rig.expressions,
        "pose_correctives": rig.pose_correctives,
    }
    return data, arrays


def release_memory(ctx: JobContext) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return {"released_models": ctx.models.release()}, {}


def sleep(ctx: JobContext) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Waits in steps of ``step`` seconds, reporting progress: a cheap job for tests and checks."""
    steps = _param(ctx.params, "steps", int, 10, 1, 10_000)
    step = _param(ctx.params, "step", float, 0.1, 0.0, 10.0)
    for i in range(steps):
        ctx.progress(i / steps, f"step {i + 1}/{steps}")
        time.sleep(step)
    return {"steps": steps}, {}


OPERATIONS: dict[str, Callable[[JobContext], tuple[dict[str, Any], dict[str, np.ndarray]]]] = {
    "generate": generate,
    "bind": bind,
    "release_memory": release_memory,
    "sleep": sleep,
}


def _downsample(image: torch.Tensor, size: int) -> torch.Tensor:
    if image.shape[-1] <= size:
        return image
    return torch.nn.functional.interpolate(image[None], size=(size, size), mode="area")[0]
