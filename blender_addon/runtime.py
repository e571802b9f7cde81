"""The add-on's live state (backend session, local process) and the handling of its events.

``pump()`` is what the Blender timer calls; tests call it directly because timers do not fire
in the bpy module. Handlers only touch Blender data from here, on the main thread.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from . import photos, scene
from .animation import apply_channels
from .backend_process import LocalBackend, start_backend
from .client import BackendSession, CurveKeys, Event
from .decode import ResultError, blender_to_generator, mesh_from_result
from .preferences import preferences
from .properties import inversion_values, request_values
from .rig_decode import Channels, channels_for, rig_from_result
from .rig_scene import build_rig
from .shared import correctives as correctives_table
from .shared import protocol

PREVIEW_IMAGE = "PanoRig Preview"
CROP_IMAGE = "PanoRig Crop {}"  # numbered from 1, in the photos' order
TIMER_INTERVAL = 0.1
# InversionSettings only 'invert' takes: 'align' takes the rest.
FIT_ONLY = ("steps", "tune_steps", "fit_resolution")
# Settings of 'generate' that pick a random head: a head inverted from photos has none.
SEED_ONLY = ("seed", "psi")
JPEG_QUALITY = 90


@dataclass
class Runtime:
    session: BackendSession | None = None
    local: LocalBackend | None = None
    job: str | None = None
    job_op: str = ""
    job_name: str = ""  # the head to create (generate, invert) or to rig (bind)
    stage_since: float = 0.0  # when the job's current stage began (time.monotonic)
    # This Blender session's identity with the backend: kept across reconnects, so a job
    # started before Connect was pressed again is found and its result still arrives.
    identity: bytes = field(default_factory=lambda: b"panorig-" + uuid.uuid4().hex.encode())


RUNTIME = Runtime()


class BackendUnavailableError(RuntimeError):
    """Connecting is not allowed or not possible; the message says why and what to do."""


def connect(context: bpy.types.Context, address: str) -> None:
    prefs = preferences(context)
    if not protocol.is_loopback(address) and not bpy.app.online_access:
        raise BackendUnavailableError(
            f"{address} is not on this computer and Blender's 'Allow Online Access' is off; "
            "enable it in Preferences > System > Network to use a remote backend"
        )
    curve = None
    if prefs.server_key or prefs.client_key:
        server_key, client_key = (
            Path(bpy.path.abspath(prefs.server_key)),
            Path(bpy.path.abspath(prefs.client_key)),
        )
        if not server_key.is_file() or not client_key.is_file():
            raise BackendUnavailableError("the CURVE key files in the preferences do not exist")
        curve = CurveKeys(server_key, client_key)
    elif not protocol.is_loopback(address):
        raise BackendUnavailableError(
            "a remote backend needs CURVE keys: set the server and client key files in the "
            "PanoRig preferences (made by 'python -m backend keys')"
        )
    disconnect(keep_job=True)  # the backend tells us in its first pong whether it still runs
    RUNTIME.session = BackendSession(address, prefs.timeout, curve, RUNTIME.identity)
    RUNTIME.session.ping()
    state = context.window_manager.panorig
    state.status = f"Connecting to {address}..."
    state.last_error = ""
    ensure_timer()


def start_local(context: bpy.types.Context) -> None:
    prefs = preferences(context)
    stop_local()
    if prefs.log_folder and not prefs.log_folder.startswith("//"):
        log = Path(bpy.path.abspath(prefs.log_folder))
    else:  # no folder set, or one relative to an unsaved .blend: the extension's own storage
        log = Path(bpy.utils.extension_path_user(__package__, path="logs", create=True))
    try:
        RUNTIME.local = start_backend(
            bpy.path.abspath(prefs.python),
            bpy.path.abspath(prefs.project) or None,
            bpy.path.abspath(prefs.checkpoint) or None,
            prefs.device,
            log / "backend.log",
        )
    except (OSError, FileNotFoundError) as exc:
        raise BackendUnavailableError(str(exc)) from None
    connect(context, RUNTIME.local.address)


def disconnect(keep_job: bool = False) -> None:
    if RUNTIME.session is not None:
        RUNTIME.session.close()
    RUNTIME.session = None
    if RUNTIME.job and not keep_job:
        _finish_job(bpy.context)
        bpy.context.window_manager.panorig.stage = "Stopped"


def stop_local() -> None:
    disconnect()
    if RUNTIME.local is not None:
        RUNTIME.local.stop()
    RUNTIME.local = None


def generate(context: bpy.types.Context) -> str:
    name = f"PanoRig_seed{context.scene.panorig.seed}"
    return _start_job(context, "generate", _head_params(context), {}, name)


def align(context: bpy.types.Context) -> str:
    """Send the photos to be aligned; the crops replace the previous ones when they arrive."""
    inversion = inversion_values(context.scene.panorig)
    params = {k: v for k, v in inversion.items() if k not in FIT_ONLY}
    sent = _photos(context)
    job = _start_job(context, "align", {"files": sent.files, **params}, sent.arrays, "")
    clear_crops(context)
    context.window_manager.panorig.photo_note = "\n".join(sent.notes)
    return job


def invert(context: bpy.types.Context) -> str:
    """Send the photos to be inverted into a head, which lands like a generated one."""
    head = {k: v for k, v in _head_params(context).items() if k not in SEED_ONLY}
    inversion = inversion_values(context.scene.panorig)  # settings first: no downscaling wasted
    sent = _photos(context)
    name = f"PanoRig_photo_{Path(sent.files[0]).stem}"
    params = {"files": sent.files, **inversion, **head}
    job = _start_job(context, "invert", params, sent.arrays, name)
    context.window_manager.panorig.photo_note = "\n".join(sent.notes)
    return job


def _head_params(context: bpy.types.Context) -> dict:
    """The panel's head settings and the preferences' checkpoint, as generate takes them."""
    params = request_values(context.scene.panorig)
    checkpoint = preferences(context).checkpoint
    if checkpoint:
        params["checkpoint"] = bpy.path.abspath(checkpoint)
    return params


def _photos(context: bpy.types.Context) -> photos.Photos:
    paths = [bpy.path.abspath(photo.filepath) for photo in context.scene.panorig.photos]
    return photos.fit_photos(paths, _shrink_photo)


def _shrink_photo(path: Path, factor: float) -> tuple[Path, int, int]:
    """Downscale a photo by ``factor`` with Blender's image functions into Blender's temporary
    folder: JPEG, or PNG when it has alpha (the backend takes it as the person's mask)."""
    try:
        image = bpy.data.images.load(str(path), check_existing=False)
    except RuntimeError as exc:
        raise photos.PhotoError(f"Blender could not read {path.name} ({exc}).") from None
    images = [image]
    try:
        width, height = image.size
        if width == 0 or height == 0:
            raise photos.PhotoError(
                f"{path.name} is not an image Blender can read.", "Remove it from the list."
            )
        image.scale(max(1, round(width * factor)), max(1, round(height * factor)))
        with path.open("rb") as file:
            orientation = photos.exif_orientation(file.read(2**17))
        alpha = image.depth in (32, 64, 128)
        if orientation != 1:
            image = _oriented(image, orientation, alpha)
            images.append(image)
        image.file_format = "PNG" if alpha else "JPEG"
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
        out = Path(bpy.app.tempdir) / f"{path.stem}-{digest}{'.png' if alpha else '.jpg'}"
        image.save(filepath=str(out), quality=JPEG_QUALITY)
        return out, image.size[0], image.size[1]
    except RuntimeError as exc:
        raise photos.PhotoError(f"{path.name} could not be downscaled ({exc}).") from None
    finally:
        for made in images:
            bpy.data.images.remove(made)


def _oriented(image: bpy.types.Image, orientation: int, alpha: bool) -> bpy.types.Image:
    """A copy with the photo's EXIF orientation applied: Blender loads pixels as stored, and
    the copy carries no EXIF for the backend's decoder to apply."""
    width, height = image.size
    rgba = np.empty(width * height * 4, np.float32)
    image.pixels.foreach_get(rgba)
    # Blender's rows run bottom to top; EXIF orientations are defined top row first.
    turned = photos.orient(rgba.reshape(height, width, 4)[::-1], orientation)[::-1]
    copy = bpy.data.images.new(
        f"{image.name} oriented", turned.shape[1], turned.shape[0], alpha=alpha
    )
    copy.pixels.foreach_set(np.ascontiguousarray(turned).reshape(-1))
    return copy


def clear_crops(context: bpy.types.Context) -> None:
    """Forget the aligned crops (the photos changed, or they are being aligned again)."""
    state = context.window_manager.panorig
    for crop in state.crops:
        image = bpy.data.images.get(crop.image)
        if image is not None:
            bpy.data.images.remove(image)
    state.crops.clear()


def bind(context: bpy.types.Context, head: bpy.types.Object) -> str:
    """Ask the backend to fit the rig model to ``head`` (sent in the generator's frame)."""
    mesh = head.data
    vertices = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", vertices)
    mesh.calc_loop_triangles()
    faces = np.empty(len(mesh.loop_triangles) * 3, np.int32)
    mesh.loop_triangles.foreach_get("vertices", faces)
    prefs = preferences(context)
    model = bpy.path.abspath(prefs.flame_model) if prefs.flame_model else "template"
    arrays = {
        "vertices": blender_to_generator(vertices.reshape(-1, 3)),
        "faces": faces.reshape(-1, 3),
    }
    return _start_job(context, "bind", {"model": model}, arrays, head.name)


def _start_job(context: bpy.types.Context, op: str, params: dict, arrays: dict, name: str) -> str:
    RUNTIME.job = RUNTIME.session.request(op, params, arrays)
    RUNTIME.job_op, RUNTIME.job_name = op, name
    state = context.window_manager.panorig
    state.job, state.stage, state.progress, state.last_error = RUNTIME.job, "queued", 0.0, ""
    RUNTIME.stage_since = time.monotonic()
    ensure_timer()
    return RUNTIME.job


def stage_label(stage: str) -> str:
    """The running job's stage with how long it has been in it, e.g. 'UV unwrap · 41 s'."""
    elapsed = time.monotonic() - RUNTIME.stage_since
    return f"{stage} · {elapsed:.0f} s" if elapsed >= 1 else stage


def cancel() -> None:
    if RUNTIME.session is not None and RUNTIME.job:
        RUNTIME.session.cancel(RUNTIME.job)


def pump(context: bpy.types.Context | None = None) -> list[Event]:
    """Handle everything the backend sent; returns the events (for tests and the timer)."""
    context = context or bpy.context
    if RUNTIME.session is None:
        return []
    events = RUNTIME.session.poll()
    for event in events:
        handle(context, event)
    if events:
        _redraw(context)
    return events


def handle(context: bpy.types.Context, event: Event) -> None:
    state = context.window_manager.panorig
    if event.kind == "connected":
        device = event.data.get("gpu") or event.data.get("device", "?")
        state.status = f"Connected ({device})"
        _reattach(context, event.data.get("jobs", []))
    elif event.kind == "progress" and event.job == RUNTIME.job:
        if event.stage != state.stage:
            RUNTIME.stage_since = time.monotonic()
        state.progress, state.stage = event.fraction, event.stage
        _status_bar(context, f"PanoRig: {event.stage} ({event.fraction:.0%})")
    elif event.kind == "preview" and event.job == RUNTIME.job:
        state.preview = scene.set_preview(PREVIEW_IMAGE, event.arrays["preview"]).name
    elif event.kind == "result" and event.job == RUNTIME.job:
        op, name = RUNTIME.job_op, RUNTIME.job_name
        _finish_job(context)
        try:
            if op == "align":  # crops for the panel: nothing in the scene changes
                _show_crops(context, photos.crops_from_result(event.data, event.arrays))
                return
            if op in ("generate", "invert"):
                obj = scene.add_head(context, name, mesh_from_result(event.arrays))
                state.stage = f"Added {obj.name} ({event.data.get('seconds', 0):.1f} s)"
            elif op == "bind":
                obj = _finish_bind(context, name, event)
        except (ResultError, KeyError, ValueError) as exc:
            state.last_error = f"The backend's result could not be used: {exc}"
            return
        _undo_push(f"PanoRig: {op} {name}")
    elif event.kind == "error":
        if event.job and event.job != RUNTIME.job:
            return
        _finish_job(context)
        state.last_error = f"{event.message} {event.hint}".strip()
        state.stage = "Cancelled" if event.code == "cancelled" else "Failed"
    elif event.kind == "lost":
        _finish_job(context)
        state.status = "Backend not answering"
        state.last_error = f"{event.message} {event.hint}".strip()


def _show_crops(context: bpy.types.Context, crops: list[photos.Crop]) -> None:
    clear_crops(context)
    state = context.window_manager.panorig
    for i, crop in enumerate(crops):
        image = scene.set_preview(CROP_IMAGE.format(i + 1), crop.rgb)
        item = state.crops.add()
        item.name, item.image = crop.file, image.name
        item.yaw, item.pitch, item.roll = crop.yaw, crop.pitch, crop.roll
        item.landmarks_found, item.warning = crop.landmarks_found, crop.warning
    state.stage = f"Aligned {len(crops)} photo{'s' if len(crops) != 1 else ''}"


def _reattach(context: bpy.types.Context, jobs: list) -> None:
    """On (re)connecting: follow this session's running job again, or cancel it, as the
    preferences say; a job the backend no longer has leaves no stale label behind."""
    state = context.window_manager.panorig
    listed = {j.get("job"): j for j in jobs if isinstance(j, dict)}
    for job in listed:
        if job != RUNTIME.job:  # nothing here knows what to do with its result
            RUNTIME.session.cancel(job)
    if not RUNTIME.job:
        return
    mine = listed.get(RUNTIME.job)
    if mine is None:
        _finish_job(context)
        state.stage = ""
        state.last_error = (
            "The backend no longer has the job that was running (it was restarted or the job "
            "ended while disconnected). Start it again."
        )
    elif preferences(context).on_reconnect == "CANCEL":
        RUNTIME.session.cancel(RUNTIME.job)
        state.stage = "cancelling"
    else:
        RUNTIME.session.jobs[RUNTIME.job] = RUNTIME.job_op
        state.stage, state.progress = str(mine.get("stage", "")), float(mine.get("fraction", 0))
        RUNTIME.stage_since = time.monotonic() - float(mine.get("stage_elapsed", 0))


def _finish_bind(context: bpy.types.Context, name: str, event: Event) -> bpy.types.Object:
    head = bpy.data.objects.get(name)
    if head is None:
        raise ValueError(f"the head {name!r} was deleted while it was being bound")
    rig = rig_from_result(event.arrays, event.data)
    if len(rig.weights) != len(head.data.vertices):
        raise ValueError(f"{name} was edited while it was being bound; bind it again")
    settings = context.scene.panorig
    rig_obj = build_rig(context, head, rig, settings.bake_correctives)
    rel = event.data.get("relative_residual", 0.0)
    context.window_manager.panorig.stage = (
        f"Bound {name} to {rig.model_name} (fit residual {rel:.1%} of head height)"
    )
    return rig_obj


def import_animation(context: bpy.types.Context, rig_obj: bpy.types.Object, seq) -> Channels:
    """Keyframe a loaded sequence onto ``rig_obj`` and its head, at the scene's frame rate."""
    head = next((c for c in rig_obj.children if c.type == "MESH"), None)
    if head is None or head.data.shape_keys is None:
        raise ValueError(f"{rig_obj.name} has no bound head; bind a head first")
    keys = [k.name for k in head.data.shape_keys.key_blocks[1:]]
    correctives = tuple(k for k in keys if correctives_table.parse(k) is not None)
    expressions = tuple(k for k in keys if k not in correctives)
    animation = head.data.shape_keys.animation_data
    driven = {d.data_path for d in animation.drivers} if animation else set()
    baked = tuple(k for k in correctives if f'key_blocks["{k}"].value' not in driven)
    scene = context.scene
    channels = channels_for(
        seq,
        tuple(b.name for b in rig_obj.data.bones),
        expressions,
        str(rig_obj.get("panorig_release", "")),
        scene.render.fps / scene.render.fps_base,
        scene.frame_start,
        baked,
    )
    apply_channels(rig_obj, head, channels, rig_obj.name)
    return channels


def _finish_job(context: bpy.types.Context) -> None:
    RUNTIME.job = None
    state = context.window_manager.panorig
    state.job = ""
    state.progress = 0.0
    _status_bar(context, None)


def _status_bar(context: bpy.types.Context, text: str | None) -> None:
    workspace = getattr(context, "workspace", None)
    if workspace is not None:
        workspace.status_text_set(text)


def _undo_push(message: str) -> None:
    # The head arrives after the operator finished: give it its own undo step.
    try:
        bpy.ops.ed.undo_push(message=message)
    except RuntimeError:
        pass  # no undo stack (background mode)


def _redraw(context: bpy.types.Context) -> None:
    screen = getattr(context, "screen", None)
    for area in getattr(screen, "areas", []):
        if area.type == "VIEW_3D":
            area.tag_redraw()


def _timer() -> float | None:
    if RUNTIME.session is None:
        return None
    if not pump() and RUNTIME.job:
        _redraw(bpy.context)  # the stage's elapsed time ticks on
    return TIMER_INTERVAL


def ensure_timer() -> None:
    if not bpy.app.timers.is_registered(_timer):
        bpy.app.timers.register(_timer, first_interval=TIMER_INTERVAL, persistent=True)


def shutdown() -> None:
    if bpy.app.timers.is_registered(_timer):
        bpy.app.timers.unregister(_timer)
    stop_local()
