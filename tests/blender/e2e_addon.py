"""Runs inside a fresh bpy 5.0.1 process (see test_blender_addon.py): installs the built
extension, connects to a running backend, generates a head through the add-on's own operators
and handlers, renders it with Cycles, then kills the backend mid-job. Prints one JSON line.

    python e2e_addon.py ZIP ADDRESS BACKEND_PID OUT_DIR
"""

import functools
import json
import os
import signal
import sys
import time

import bpy
import harness
import numpy as np
from harness import PACKAGE

zip_path, address, backend_pid, out_dir = sys.argv[1:5]
report: dict = {}

harness.install_extension(zip_path)
runtime = sys.modules[f"{PACKAGE}.runtime"]
prefs = bpy.context.preferences.addons[PACKAGE].preferences
prefs.mode, prefs.address, prefs.timeout = "CONNECT", address, 5.0
prefs.checkpoint = ""  # use the backend's own (the test fixture)
state = bpy.context.window_manager.panorig
pump_until = functools.partial(harness.pump_until, runtime, state)


report["generate_poll_before_connect"] = bpy.ops.panorig.generate.poll()
assert bpy.ops.panorig.connect() == {"FINISHED"}
pump_until(lambda: state.status.startswith("Connected"), 20)
report["status"] = state.status

settings = bpy.context.scene.panorig
# A NaN typed into a field: Generate says which field, sends nothing and leaves the scene alone.
settings.psi = float("nan")
try:
    report["nan_generate"] = sorted(bpy.ops.panorig.generate())
except RuntimeError as exc:  # background mode turns the operator's error report into this
    report["nan_generate"] = str(exc)
report["nan_error"] = state.last_error
report["nan_started_job"] = bool(runtime.RUNTIME.job)
settings.psi, state.last_error = 0.7, ""
settings.seed, settings.resolution, settings.faces = 0, 64, 5000
settings.texture, settings.views, settings.level = "512", 2, 0.5  # fixture: random weights
settings.views_auto = False
start = time.monotonic()
assert bpy.ops.panorig.generate() == {"FINISHED"}
report["generate_poll_while_busy"] = bpy.ops.panorig.generate.poll()
stages = set()


def finished() -> bool:
    stages.add(state.stage)
    return runtime.RUNTIME.job is None


pump_until(finished, 300)
report["generate_seconds"] = time.monotonic() - start
report["stages_seen"] = sorted(stages)
report["last_error"] = state.last_error
report["preview"] = state.preview

collection = bpy.data.collections.get("PanoRig")
heads = list(collection.objects) if collection else []
report["heads"] = len(heads)
head = heads[0]
mesh = head.data
report["vertices"] = len(mesh.vertices)
report["faces"] = len(mesh.polygons)
report["uv_layers"] = [layer.name for layer in mesh.uv_layers]
material = mesh.materials[0]
images = [n.image for n in material.node_tree.nodes if n.type == "TEX_IMAGE"]
report["material"] = material.name
report["image_size"] = list(images[0].size) if images else None
report["image_packed"] = bool(images and images[0].packed_file)
z = np.empty(len(mesh.vertices) * 3, np.float32)
mesh.vertices.foreach_get("co", z)
z = z.reshape(-1, 3)
report["bounds"] = [z.min(0).tolist(), z.max(0).tolist()]

# Cycles CPU render at 128x128 from the generator's frontal camera (converted to Blender).
scene = bpy.context.scene
camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
camera.data.sensor_fit, camera.data.sensor_width = "HORIZONTAL", 36.0
camera.data.lens = 4.2647 * 36.0
camera.location = (0.0, -2.7, 0.0)
camera.rotation_euler = (np.pi / 2, 0.0, 0.0)
scene.collection.objects.link(camera)
scene.camera = camera
light = bpy.data.objects.new("Key", bpy.data.lights.new("Key", "SUN"))
light.rotation_euler = (np.radians(60), 0.0, np.radians(-30))
scene.collection.objects.link(light)
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 8
scene.render.resolution_x = scene.render.resolution_y = 128
scene.render.film_transparent = True
scene.render.filepath = os.path.join(out_dir, "head.png")
render_start = time.monotonic()
bpy.ops.render.render(write_still=True)
report["render_seconds"] = time.monotonic() - render_start
pixels = bpy.data.images.load(scene.render.filepath)
rgba = np.empty(128 * 128 * 4, np.float32)
pixels.pixels.foreach_get(rgba)
rgba = rgba.reshape(128, 128, 4)
report["coverage"] = float((rgba[..., 3] > 0.5).mean())
report["rgb_std_on_head"] = float(rgba[rgba[..., 3] > 0.5][:, :3].std())

# Connect pressed again in the middle of a job: the job is found again and its head lands.
settings.seed, settings.resolution, settings.texture = 2, 64, "0"
labels = set()


def landed() -> bool:
    labels.add(state.stage)
    return runtime.RUNTIME.job is None


assert bpy.ops.panorig.generate() == {"FINISHED"}
pump_until(lambda: state.stage not in ("", "queued", "starting"), 60)
assert bpy.ops.panorig.connect() == {"FINISHED"}
pump_until(landed, 120)
report["reconnect_heads"] = len(collection.objects)
report["reconnect_stage"] = state.stage
report["reconnect_error"] = state.last_error
report["reconnect_labels"] = sorted(labels)
# The same with "Cancel the job" chosen: cancelled, nothing added, no stale label.
prefs.on_reconnect = "CANCEL"
settings.seed, settings.resolution, settings.texture = 3, 320, "512"  # long enough to cancel
pump_until(lambda: state.status.startswith("Connected"), 20)
assert bpy.ops.panorig.generate() == {"FINISHED"}
pump_until(lambda: state.stage not in ("", "queued", "starting"), 60)
assert bpy.ops.panorig.connect() == {"FINISHED"}
pump_until(lambda: runtime.RUNTIME.job is None, 60)
report["cancel_heads"] = len(collection.objects)
report["cancel_stage"] = state.stage
prefs.on_reconnect = "RESUME"
state.last_error = ""

# Kill the backend in the middle of a job: the add-on reports it and leaves the scene alone.
pump_until(lambda: state.status.startswith("Connected"), 20)
objects_before = sorted(obj.name for obj in bpy.data.objects)
settings.seed, settings.resolution, settings.texture = 1, 128, "1024"
assert bpy.ops.panorig.generate() == {"FINISHED"}
pump_until(lambda: state.stage not in ("", "queued"), 60)
os.kill(int(backend_pid), signal.SIGKILL)
report["lost_after_seconds"] = pump_until(lambda: runtime.RUNTIME.job is None, 30)
report["status_after_kill"] = state.status
report["error_after_kill"] = state.last_error
report["scene_unchanged"] = sorted(obj.name for obj in bpy.data.objects) == objects_before
print("E2E " + json.dumps(report))
