"""What the service can do: operations as plain functions of validated parameters.

Each operation gets a ``JobContext`` (parameters, progress callback that also cancels, the
model cache) and returns the result's JSON data and arrays. The server only routes messages.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..cameras import orbit_cameras
from ..common import rig_arrays
from ..common.settings import (
    HeadSettings,
    MeshSettings,
    RigSettings,
    Settings,
    SettingsError,
    TextureSettings,
    setting,
    split,
    validate,
)
from ..head import make_head
from ..imaging import image_to_uint8
from ..models import open_generator
from ..progress import Progress, scaled
from ..rigging import HeadModel, bind_rig, open_rig_model, rig_fields
from ..rigging.bind import HeadMeshError, check_head_mesh
from ..sampling import seed_ws
from ..texture import TexturedMesh


@dataclass
class JobContext:
    params: dict[str, Any]
    arrays: dict[str, np.ndarray]  # arrays sent with the request
    progress: Progress  # raises (worker.JobCancelledError) once the job is cancelled
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
            raise SettingsError(
                "checkpoint",
                "no checkpoint given and the backend was started without --checkpoint.",
                "Choose a checkpoint, or restart the backend with --checkpoint.",
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


@dataclass(frozen=True)
class GenerateOptions(Settings):
    """What ``generate`` takes besides the head, mesh and texture settings."""

    checkpoint: str | None = setting(
        None,
        "Checkpoint",
        "Generator to use: 'demo', a file path on the backend's machine, or none for the "
        "backend's default",
        none="the backend's default",
    )
    preview: bool = setting(True, "Preview", "Send a frontal preview image first")


def generate(ctx: JobContext) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Seed -> textured head mesh (vertices, faces, normals, uv, texture) in the generator frame."""
    options, head, mesh, texture = split(
        (GenerateOptions, HeadSettings, MeshSettings, TextureSettings), ctx.params
    )
    start = time.perf_counter()
    ctx.progress(0.0, "loading model")
    G = ctx.models.get(options.checkpoint)
    ws = seed_ws(G, head.seed, head.psi)
    if options.preview:
        ctx.progress(0.02, "preview")
        with torch.no_grad():
            frontal = G.synthesis(ws, orbit_cameras(0.0, 0.0).to(ws.device), deterministic=True)
        ctx.preview(image_to_uint8(_downsample(frontal["image"][0], 128)))
    result = make_head(G, ws, mesh, texture, scaled(ctx.progress, 0.05, 1.0))
    arrays = {"vertices": result.vertices, "faces": result.faces, "normals": result.normals}
    if isinstance(result, TexturedMesh):
        arrays.update(uv=result.uv, texture=result.image)
    data = {
        "seed": head.seed,
        "psi": head.psi,
        "seconds": round(time.perf_counter() - start, 3),
        "vertices": len(result.vertices),
        "faces": len(result.faces),
    }
    return data, arrays


def bind(ctx: JobContext) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Head mesh (generator frame) -> rig arrays: weights, joints, expression and corrective
    displacements, fitted to FLAME (the user's file) or the open template."""
    settings = validate(RigSettings, ctx.params)
    vertices, faces = ctx.arrays.get("vertices"), ctx.arrays.get("faces")
    if vertices is None or faces is None or vertices.ndim != 2 or vertices.shape[1] != 3:
        raise HeadMeshError(
            "the bind request has no head mesh.",
            "Send the head as 'vertices' [V, 3] and 'faces' [F, 3] arrays.",
        )
    check_head_mesh(vertices, faces)
    ctx.progress(0.0, "loading rig model")
    model = ctx.models.rig_model(settings.model)
    rig = bind_rig(
        model, vertices.astype(np.float32), faces.astype(np.int32), progress=ctx.progress
    )
    return rig_arrays.to_reply(rig_fields(rig))


def release_memory(ctx: JobContext) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return {"released_models": ctx.models.release()}, {}


def sleep(ctx: JobContext) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Waits in steps of ``step`` seconds, reporting progress: a cheap job for tests and checks."""
    settings = validate(SleepSettings, ctx.params)
    for i in range(settings.steps):
        ctx.progress(i / settings.steps, f"step {i + 1}/{settings.steps}")
        time.sleep(settings.step)
    return {"steps": settings.steps}, {}


@dataclass(frozen=True)
class SleepSettings(Settings):
    steps: int = setting(10, "Steps", "How many steps", min=1, max=10_000)
    step: float = setting(0.1, "Step", "Seconds per step", min=0.0, max=10.0, unit="s")


def hold(ctx: JobContext) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Holds the interpreter lock in native code for ``seconds``, as a long UV unwrap does:
    a check that the service answers pings whatever a job does."""
    settings = validate(HoldSettings, ctx.params)
    ctx.progress(0.0, "holding the interpreter lock")
    if sys.platform == "win32":
        ctypes.PyDLL("kernel32").Sleep(settings.seconds * 1000)
    else:  # a PyDLL call keeps the lock for its whole duration
        ctypes.PyDLL(None).sleep(settings.seconds)
    ctx.progress(1.0, "done")
    return {"seconds": settings.seconds}, {}


@dataclass(frozen=True)
class HoldSettings(Settings):
    seconds: int = setting(1, "Seconds", "How long to hold the lock", min=1, max=120, unit="s")


OPERATIONS: dict[str, Callable[[JobContext], tuple[dict[str, Any], dict[str, np.ndarray]]]] = {
    "generate": generate,
    "bind": bind,
    "release_memory": release_memory,
    "sleep": sleep,
    "hold": hold,
}


def _downsample(image: torch.Tensor, size: int) -> torch.Tensor:
    if image.shape[-1] <= size:
        return image
    return torch.nn.functional.interpolate(image[None], size=(size, size), mode="area")[0]
