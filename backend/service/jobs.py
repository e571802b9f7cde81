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
    InversionSettings,
    MeshSettings,
    RigSettings,
    Settings,
    SettingsError,
    TextureSettings,
    setting,
    split,
    validate,
)
from ..geometry import Mesh
from ..head import make_head
from ..imaging import image_to_uint8
from ..inversion import (
    AlignedPhoto,
    Head,
    align_photos,
    framing,
    invert,
    photo_projections,
    read_head,
    stored_projections,
)
from ..inversion.sheet import with_landmarks
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

    def __init__(
        self, device: str, default_checkpoint: str | None, default_head: str | None = None
    ) -> None:
        self.device = device
        self.default_checkpoint = default_checkpoint
        self.default_head = default_head
        self._models: dict[str, torch.nn.Module] = {}
        self._rig_models: dict[str, HeadModel] = {}
        self._heads: dict[str, Head] = {}

    def head(self, path: str) -> Head:
        """An inverted head file (its tuned generator, latent and photos), loaded once."""
        if path not in self._heads:
            self._heads[path] = read_head(path, self.device)
        return self._heads[path]

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
        count = len(self._models) + len(self._heads)
        self._models.clear()
        self._rig_models.clear()
        self._heads.clear()
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
    head: str | None = setting(
        None,
        "Head file",
        "A head file made by 'invert', on the backend's machine: its person instead of the "
        "seed (none: the backend's --head, if it was started with one)",
        none="the seed's head",
    )


def generate(ctx: JobContext) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Seed -> textured head mesh (vertices, faces, normals, uv, texture) in the generator frame."""
    options, head, mesh, texture = split(
        (GenerateOptions, HeadSettings, MeshSettings, TextureSettings), ctx.params
    )
    start = time.perf_counter()
    ctx.progress(0.0, "loading model")
    photos: list = []
    head_path = options.head or ctx.models.default_head
    if head_path:  # an inverted person, with its photos for the texture
        inverted = ctx.models.head(head_path)
        G, ws, photos = inverted.G, inverted.ws, stored_projections(inverted)
    else:
        G = ctx.models.get(options.checkpoint)
        ws = seed_ws(G, head.seed, head.psi)
    if options.preview:
        ctx.progress(0.02, "preview")
        with torch.no_grad():
            frontal = G.synthesis(ws, orbit_cameras(0.0, 0.0).to(ws.device), deterministic=True)
        ctx.preview(image_to_uint8(_downsample(frontal["image"][0], 128)))
    result = make_head(G, ws, mesh, texture, scaled(ctx.progress, 0.05, 1.0), photos=photos)
    if head_path:
        return _head_reply(result, start, head=head_path)
    return _head_reply(result, start, seed=head.seed, psi=head.psi)


def _head_reply(
    result: Mesh | TexturedMesh, start: float, **data: Any
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A head mesh as the add-on receives it (generate and invert alike)."""
    arrays = {"vertices": result.vertices, "faces": result.faces, "normals": result.normals}
    if isinstance(result, TexturedMesh):
        arrays.update(uv=result.uv, texture=result.image)
    data.update(
        seconds=round(time.perf_counter() - start, 3),
        vertices=len(result.vertices),
        faces=len(result.faces),
    )
    return data, arrays


MAX_PHOTOS = 8
CROP_PREVIEW = 256


@dataclass(frozen=True)
class PhotoOptions(Settings):
    """What ``align`` and ``invert`` take besides the inversion, mesh and texture settings."""

    files: tuple[str, ...] | None = setting(
        None,
        "Files",
        "The photos' file names, in the order of the photo arrays (for messages)",
        none="photo 1, photo 2, ...",
    )
    checkpoint: str | None = setting(
        None,
        "Checkpoint",
        "Generator to invert into: 'demo', a file path on the backend's machine, or none for "
        "the backend's default",
        none="the backend's default",
    )


def _photos(ctx: JobContext, options: PhotoOptions) -> tuple[list[bytes], list[str]]:
    """The photos sent as their encoded file bytes (``photo0``, ``photo1``...), with names."""
    count = sum(1 for name in ctx.arrays if name.startswith("photo"))
    if not 1 <= count <= MAX_PHOTOS or set(ctx.arrays) != {f"photo{i}" for i in range(count)}:
        raise SettingsError(
            "photos",
            f"send 1 to {MAX_PHOTOS} photos as arrays photo0, photo1, ...; got "
            f"{sorted(ctx.arrays) or 'none'}.",
            "Pick one or more photos of the person.",
        )
    names = list(options.files or [f"photo {i + 1}" for i in range(count)])
    if len(names) != count or any(len(n) > 200 for n in names):
        raise SettingsError("files", f"'files' must name each of the {count} photos.", "")
    data = []
    for i in range(count):
        array = ctx.arrays[f"photo{i}"]
        if array.dtype != np.uint8 or array.ndim != 1:
            raise SettingsError(
                "photos", f"photo{i} must be the file's bytes (uint8, 1-D).", "Send the file."
            )
        data.append(array.tobytes())
    return data, names


def align(ctx: JobContext) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Photos -> their aligned crops (landmarks drawn) and estimated poses, for the panel."""
    options, inversion = split((PhotoOptions, InversionSettings), ctx.params)
    sources, names = _photos(ctx, options)
    ctx.progress(0.0, "loading model")
    G = ctx.models.get(options.checkpoint)  # its framing; the fit that follows needs it anyway
    ctx.progress(0.5, "aligning")
    photos = align_photos(sources, inversion, names, framing(G))
    crops = np.stack([with_landmarks(p, CROP_PREVIEW) for p in photos])
    return {"photos": [_pose(p) for p in photos]}, {"crops": crops}


def invert_photos(ctx: JobContext) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Photos of a person -> their inverted head as a textured mesh (the photos in the
    texture), like ``generate``'s."""
    options, inversion, mesh, texture = split(
        (PhotoOptions, InversionSettings, MeshSettings, TextureSettings), ctx.params
    )
    sources, names = _photos(ctx, options)
    start = time.perf_counter()
    ctx.progress(0.0, "loading model")
    G = ctx.models.get(options.checkpoint)
    ctx.progress(0.02, "aligning")
    photos = align_photos(sources, inversion, names, framing(G))
    head = invert(
        G,
        photos,
        steps=inversion.steps,
        tune_steps=inversion.tune_steps,
        resolution=inversion.fit_resolution,
        progress=scaled(ctx.progress, 0.03, 0.7),
        preview=ctx.preview,
    )
    result = make_head(
        head.G,
        head.ws,
        mesh,
        texture,
        scaled(ctx.progress, 0.7, 1.0),
        photos=photo_projections(photos, head.cameras),
    )
    return _head_reply(result, start, photos=head.photos, losses=head.losses)


def _pose(photo: AlignedPhoto) -> dict[str, Any]:
    return {
        "file": photo.source,
        "yaw": round(photo.yaw, 2),
        "pitch": round(photo.pitch, 2),
        "roll": round(photo.roll, 2),
        "landmarks_found": photo.landmarks_found,
        "warning": photo.warning,
    }


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
    "align": align,
    "invert": invert_photos,
    "sleep": sleep,
    "hold": hold,
}


def _downsample(image: torch.Tensor, size: int) -> torch.Tensor:
    if image.shape[-1] <= size:
        return image
    return torch.nn.functional.interpolate(image[None], size=(size, size), mode="area")[0]
