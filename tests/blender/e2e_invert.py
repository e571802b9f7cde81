"""Runs inside a fresh bpy 5.0.1 process (see test_blender_invert.py): installs the built
extension, manages the photo list, aligns and inverts a photo through a running backend with
the add-on's own operators and handlers, and checks the refusals (a photo over the request limit
is downscaled, a photo without a face is refused). Prints one JSON line.

    python e2e_invert.py ZIP ADDRESS PHOTOS_DIR

PHOTOS_DIR holds astronaut.png (a face), wall.png (no face, over the 64 MiB request limit),
turned.jpg (EXIF orientation 6) with turned_upright.npy (how a viewer shows it), alpha.png.
"""

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import bpy
import numpy as np

zip_path, address, photos_dir = sys.argv[1:4]
photos_dir = Path(photos_dir)
report: dict = {}

for obj in list(bpy.data.objects):  # the startup scene's cube, camera and light
    bpy.data.objects.remove(obj)
bpy.ops.extensions.package_install_files(
    filepath=zip_path, repo="user_default", enable_on_install=True
)
package = "bl_ext.user_default.panorig"
runtime = sys.modules[f"{package}.runtime"]
panel = sys.modules[f"{package}.panel"]
prefs = bpy.context.preferences.addons[package].preferences
prefs.mode, prefs.address, prefs.timeout = "CONNECT", address, 60.0
prefs.checkpoint = ""  # the backend's own (demo)
state = bpy.context.window_manager.panorig
settings = bpy.context.scene.panorig


def pump_until(done, limit: float) -> float:
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > limit:
            raise SystemExit(f"timed out; stage {state.stage!r}, error {state.last_error!r}")
        runtime.pump()
        time.sleep(0.02)
    return time.monotonic() - start


def run(operator, **kwargs) -> str:
    """An operator's outcome; background mode turns its error report into a RuntimeError."""
    try:
        return ",".join(sorted(operator(**kwargs)))
    except RuntimeError as exc:
        return f"error: {exc}"


def panel_drawn() -> dict:
    """What the panel draws now, through a layout that records every call."""
    calls = []

    class Layout:
        alert = False

        def __getattr__(self, name):
            def record(*args, **kwargs):
                calls.append((name, args, kwargs))
                return self

            return record

    panel.PANORIG_PT_main.draw(SimpleNamespace(layout=Layout()), bpy.context)
    return {
        "labels": [kw.get("text", "") for name, _, kw in calls if name == "label"],
        "icons": sum(name == "template_icon" for name, _, _ in calls),
        "lists": [[args[0], args[3]] for name, args, _ in calls if name == "template_list"],
    }


def add(*names: str) -> str:
    return run(
        bpy.ops.panorig.add_photos,
        directory=str(photos_dir),
        files=[{"name": name} for name in names],
    )


def scene_state() -> list:
    return sorted(obj.name for obj in bpy.data.objects) + [len(bpy.data.meshes)]


# --- the photo list, without a backend ------------------------------------------------------
report["align_poll_empty"] = bpy.ops.panorig.align.poll()
report["add"] = add("astronaut.png", "alpha.png")
report["add_again"] = add("astronaut.png")  # already listed: nothing added
report["listed"] = [photo.name for photo in settings.photos]
report["listed_paths"] = [photo.filepath for photo in settings.photos]
settings.photo_index = 1
report["remove"] = run(bpy.ops.panorig.remove_photo)
report["after_remove"] = [photo.name for photo in settings.photos]
(photos_dir / "notes.txt").write_text("not a photo")
report["add_text"] = add("notes.txt")
report["add_text_error"] = state.last_error
report["after_add_text"] = [photo.name for photo in settings.photos]
state.last_error = ""
report["align_poll_offline"] = bpy.ops.panorig.align.poll()
report["invert_poll_offline"] = bpy.ops.panorig.invert.poll()
report["panel_list"] = panel_drawn()["lists"]

# Downscaling in Blender: the EXIF orientation is applied (Blender ignores it, the backend
# would apply it to the original); alpha keeps PNG.
images_before = set(bpy.data.images.keys())
out, width, height = runtime._shrink_photo(photos_dir / "turned.jpg", 0.5)
turned = bpy.data.images.load(str(out))
pixels = np.empty(width * height * 4, np.float32)
turned.pixels.foreach_get(pixels)
upright = np.load(photos_dir / "turned_upright.npy")
shown = pixels.reshape(height, width, 4)[::-1, :, :3] * 255  # top row first, like the npy
report["turned"] = [out.suffix, width, height, list(turned.size)]
report["turned_error"] = float(np.abs(shown - upright[::2, ::2]).mean())
report["turned_error_wrong_way"] = float(np.abs(shown - np.rot90(upright, 2)[::2, ::2]).mean())
out, width, height = runtime._shrink_photo(photos_dir / "alpha.png", 0.5)
alpha = bpy.data.images.load(str(out))
report["alpha"] = [out.suffix, width, height, alpha.depth]
report["leftover_images"] = sorted(
    set(bpy.data.images.keys()) - images_before - {turned.name, alpha.name}
)

# --- align and invert against the backend ---------------------------------------------------
assert bpy.ops.panorig.connect() == {"FINISHED"}
pump_until(lambda: state.status.startswith("Connected"), 30)
report["align_poll"] = bpy.ops.panorig.align.poll()
before = scene_state()
report["align"] = run(bpy.ops.panorig.align)
report["invert_poll_while_aligning"] = bpy.ops.panorig.invert.poll()
report["align_seconds"] = pump_until(lambda: runtime.RUNTIME.job is None, 300)
report["align_error"] = state.last_error
report["align_stage"] = state.stage
report["crops"] = [
    {
        "file": c.name,
        "yaw": c.yaw,
        "pitch": c.pitch,
        "roll": c.roll,
        "landmarks_found": c.landmarks_found,
        "warning": c.warning,
        "image": c.image,
        "size": list(bpy.data.images[c.image].size) if c.image in bpy.data.images else None,
    }
    for c in state.crops
]
drawn = panel_drawn()
report["panel_after_align"] = drawn["labels"]
report["panel_icons_after_align"] = drawn["icons"]
report["align_scene_unchanged"] = scene_state() == before

settings.steps, settings.tune_steps = 5, 2
settings.fit_resolution_auto, settings.fit_resolution = False, 32
settings.resolution, settings.faces, settings.texture = 64, 2000, "256"
before = scene_state()
stages: dict = {}  # stage -> seconds into the job when it was first seen


def landed() -> bool:
    stages.setdefault(state.stage, round(time.monotonic() - start, 1))
    return runtime.RUNTIME.job is None


start = time.monotonic()
report["invert"] = run(bpy.ops.panorig.invert)
report["invert_poll_while_busy"] = bpy.ops.panorig.invert.poll()
report["generate_poll_while_busy"] = bpy.ops.panorig.generate.poll()
report["invert_seconds"] = pump_until(landed, 1200)
report["invert_stages"] = stages
report["invert_error"] = state.last_error
report["invert_stage"] = state.stage
report["preview"] = state.preview
new = sorted(set(obj.name for obj in bpy.data.objects) - set(before[:-1]))
report["new_objects"] = new
if new:
    head = bpy.data.objects[new[0]]
    report["head_collections"] = [c.name for c in head.users_collection]
    report["head_faces"] = len(head.data.polygons)
    report["head_uv"] = [layer.name for layer in head.data.uv_layers]
    images = [n.image for n in head.data.materials[0].node_tree.nodes if n.type == "TEX_IMAGE"]
    report["head_texture"] = list(images[0].size) if images else None
    report["active"] = bpy.context.view_layer.objects.active.name
    report["bind_poll"] = bpy.ops.panorig.bind_head.poll()

# --- refusals: a photo over the request limit, without a face -------------------------------
report["clear"] = run(bpy.ops.panorig.clear_photos)
report["crops_after_clear"] = len(state.crops)
report["add_wall"] = add("wall.png")
state.last_error = ""
before = scene_state()
report["wall_align"] = run(bpy.ops.panorig.align)
report["wall_note"] = state.photo_note
pump_until(lambda: runtime.RUNTIME.job is None, 300)
report["wall_align_error"] = state.last_error
report["wall_align_stage"] = state.stage
report["wall_crops"] = len(state.crops)
report["panel_after_wall"] = panel_drawn()["labels"]
state.last_error = ""
report["wall_invert"] = run(bpy.ops.panorig.invert)
pump_until(lambda: runtime.RUNTIME.job is None, 300)
report["wall_invert_error"] = state.last_error
report["scene_unchanged"] = scene_state() == before
print("E2E " + json.dumps(report))
