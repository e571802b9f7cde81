"""Runs inside one bpy release of the matrix (see test_blender_matrix.py), with only bpy and its
numpy installed: installs the built extension the way a user does (its bundled pyzmq wheel
included), connects to a running backend, generates a small head, binds it, imports a take and
renders one small Cycles frame (and, when asked, one EEVEE frame). Prints one JSON line.

    python e2e_matrix.py ZIP ADDRESS TAKE_CSV OUT_DIR [eevee]
"""

import functools
import json
import os
import sys
import time

import bpy
import harness
import numpy as np
from harness import PACKAGE, evaluated_vertices, front_camera_and_sun

zip_path, address, take_csv, out_dir = sys.argv[1:5]
with_eevee = sys.argv[5:] == ["eevee"]
report: dict = {"blender": bpy.app.version_string}
start = time.monotonic()
harness.install_extension(zip_path)
report["install_seconds"] = time.monotonic() - start
runtime = sys.modules[f"{PACKAGE}.runtime"]
compat = sys.modules[f"{PACKAGE}.compat"]
report["zmq_from"] = sys.modules["zmq"].__file__  # the extension's wheel, not a venv package
prefs = bpy.context.preferences.addons[PACKAGE].preferences
prefs.mode, prefs.address, prefs.timeout, prefs.checkpoint = "CONNECT", address, 60.0, ""
state = bpy.context.window_manager.panorig
pump_until = functools.partial(harness.pump_until, runtime, state)


assert bpy.ops.panorig.connect() == {"FINISHED"}
pump_until(lambda: state.status.startswith("Connected"), 30)

settings = bpy.context.scene.panorig
settings.seed, settings.resolution, settings.faces = 0, 64, 3000
settings.texture, settings.views, settings.views_auto = "256", 0, False
assert bpy.ops.panorig.generate() == {"FINISHED"}
report["generate_seconds"] = pump_until(lambda: runtime.RUNTIME.job is None, 300)
report["generate_error"] = state.last_error
head = bpy.context.view_layer.objects.active
report["faces"] = len(head.data.polygons)

assert bpy.ops.panorig.bind_head() == {"FINISHED"}
report["bind_seconds"] = pump_until(lambda: runtime.RUNTIME.job is None, 300)
report["bind_error"] = state.last_error
rig = head.parent
report["bones"] = [b.name for b in rig.data.bones] if rig else []
keys = head.data.shape_keys.key_blocks
report["shape_keys_at_zero"] = all(k.value == 0.0 for k in keys[1:])

scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = 30, 1.0
start = time.monotonic()
assert bpy.ops.panorig.import_animation(filepath=take_csv) == {"FINISHED"}, state.last_error
report["import_seconds"] = time.monotonic() - start
action = head.data.shape_keys.animation_data.action
if compat.SLOTTED_ACTIONS:
    slot = head.data.shape_keys.animation_data.action_slot
    curves = action.layers[0].strips[0].channelbag(slot).fcurves
else:
    curves = action.fcurves
report["shape_fcurves"] = len(curves)
report["keys_per_curve"] = len(curves[0].keyframe_points)
report["grouped"] = all(c.group is not None and c.group.name == "Expression" for c in curves)
report["frame_range"] = [scene.frame_start, scene.frame_end]


scene.frame_set(scene.frame_start)
rest = evaluated_vertices(head)
open_frame = scene.frame_start + 45  # jawOpen peaks 1.5 s into the test's take
scene.frame_set(open_frame)
report["animated_motion"] = float(np.abs(evaluated_vertices(head) - rest).max())

front_camera_and_sun(scene, lens=120.0)
scene.render.resolution_x = scene.render.resolution_y = 64


def render(engine: str, name: str) -> dict:
    scene.render.engine = engine
    scene.render.filepath = os.path.join(out_dir, name)
    began = time.monotonic()
    bpy.ops.render.render(write_still=True)
    seconds = time.monotonic() - began
    rgba = np.empty(64 * 64 * 4, np.float32)
    bpy.data.images.load(scene.render.filepath).pixels.foreach_get(rgba)
    rgba = rgba.reshape(-1, 4)
    on_head = rgba[rgba[:, 3] > 0.5]
    return {
        "engine": engine,
        "seconds": seconds,
        "coverage": float(len(on_head) / len(rgba)),
        "mean_rgb_on_head": float(on_head[:, :3].mean()) if len(on_head) else 0.0,
        "path": scene.render.filepath,
    }


scene.cycles.device, scene.cycles.samples = "CPU", 4
report["cycles"] = render("CYCLES", "cycles.png")
if with_eevee:
    scene.eevee.taa_render_samples = 1  # software GL: one sample is what CI can afford
    report["eevee"] = render(compat.EEVEE, "eevee.png")
print("E2E " + json.dumps(report))
