"""Runs inside a fresh bpy 5.0.1 process (see test_blender_rig.py): installs the built
extension, adds a head through the add-on's scene builder, binds it through the backend, poses
it, imports a 300-frame ARKit take and renders two frames. Prints one JSON line.

    python e2e_rig.py ZIP ADDRESS HEAD_NPZ CSV OUT_DIR
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

zip_path, address, head_npz, csv_path, out_dir = sys.argv[1:6]
report: dict = {}
harness.install_extension(zip_path)
runtime = sys.modules[f"{PACKAGE}.runtime"]
decode = sys.modules[f"{PACKAGE}.decode"]
scene_mod = sys.modules[f"{PACKAGE}.scene"]
sequences = sys.modules[f"{PACKAGE}.common.sequences"]
prefs = bpy.context.preferences.addons[PACKAGE].preferences
prefs.mode, prefs.address, prefs.timeout = "CONNECT", address, 60.0
prefs.checkpoint = ""
state = bpy.context.window_manager.panorig
pump_until = functools.partial(harness.pump_until, runtime, state)


bpy.ops.panorig.connect()
pump_until(lambda: state.status.startswith("Connected"), 20)

with np.load(head_npz) as z:
    arrays = {k: z[k] for k in z.files}
head = scene_mod.add_head(bpy.context, "PanoRig_head", decode.mesh_from_result(arrays))
report["bind_poll"] = bpy.ops.panorig.bind_head.poll()
start = time.monotonic()
assert bpy.ops.panorig.bind_head() == {"FINISHED"}
pump_until(lambda: runtime.RUNTIME.job is None, 120)
report["bind_seconds"] = time.monotonic() - start
report["stage"] = state.stage
report["last_error"] = state.last_error

rig = head.parent
if rig is None:
    raise SystemExit(f"not bound: stage {state.stage!r}, error {state.last_error!r}")
report["armature"] = rig is not None and rig.type == "ARMATURE"
report["bones"] = [b.name for b in rig.data.bones]
report["vertex_groups"] = [g.name for g in head.vertex_groups]
report["modifiers"] = [(m.type, m.object.name if m.object else None) for m in head.modifiers]
keys = head.data.shape_keys.key_blocks
report["shape_keys"] = len(keys)
report["smile_range"] = [keys["mouthSmileLeft"].slider_min, keys["mouthSmileLeft"].slider_max]


jaw_weight = np.zeros(len(head.data.vertices))
group = head.vertex_groups["jaw"].index
for v in head.data.vertices:
    for g in v.groups:
        if g.group == group:
            jaw_weight[v.index] = g.weight
mouth = jaw_weight > 0.5
report["jaw_weighted_vertices"] = int(mouth.sum())
rest = evaluated_vertices(head)
bone = rig.pose.bones["jaw"]
angle = 0.3
bone.rotation_quaternion = (np.cos(angle / 2), np.sin(angle / 2), 0.0, 0.0)
jaw_open = evaluated_vertices(head)
moved = np.linalg.norm(jaw_open - rest, axis=1)
report["jaw_mouth_motion"] = float(moved[mouth].mean())
report["jaw_far_motion"] = float(moved[jaw_weight < 0.01].mean())
report["jaw_mouth_down"] = float((jaw_open - rest)[mouth][:, 2].mean())  # Blender +z is up
bone.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
keys["mouthSmileLeft"].value = 1.0
smile = np.linalg.norm(evaluated_vertices(head) - rest, axis=1)
report["smile_max_motion"] = float(smile.max())
report["smile_moving_vertices"] = int((smile > 1e-4).sum())
keys["mouthSmileLeft"].value = 0.0

# A 300-frame take at the scene's rate: keyframed in bulk.
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = 30, 1.0
bpy.context.view_layer.objects.active = rig
seq = sequences.load_sequence(csv_path, fps=30.0)
start = time.monotonic()
channels = runtime.import_animation(bpy.context, rig, seq)
report["import_seconds"] = time.monotonic() - start
report["frames"] = int(len(channels.frames))
report["keyed_shapes"] = len(channels.shapes)
report["keyed_bones"] = sorted(channels.bones)
action = head.data.shape_keys.animation_data.action
bag = action.layers[0].strips[0].channelbag(action.slots[0])
report["shape_fcurves"] = len(bag.fcurves)
report["keys_per_curve"] = len(bag.fcurves[0].keyframe_points)

# Render frame 1 and the frame where the take opens the mouth widest.
front_camera_and_sun(scene, lens=153.5)
scene.render.engine = "CYCLES"
scene.cycles.device, scene.cycles.samples = "CPU", 8
scene.render.resolution_x = scene.render.resolution_y = 128
jaw_open = seq.expression[:, list(seq.expression_names).index("jawOpen")]
open_frame = int(channels.frames[int(np.argmax(jaw_open))])
report["open_frame"] = open_frame
renders = []
for frame in (int(channels.frames[0]), open_frame):
    scene.frame_set(frame)
    scene.render.filepath = os.path.join(out_dir, f"frame_{frame:03d}.png")
    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(scene.render.filepath)
    px = np.empty(128 * 128 * 4, np.float32)
    image.pixels.foreach_get(px)
    renders.append(px.reshape(128, 128, 4))
alpha = (renders[0][..., 3] > 0.5) | (renders[1][..., 3] > 0.5)
report["render_difference"] = float(np.abs(renders[0] - renders[1])[alpha].mean())
report["coverage"] = float(alpha.mean())
bpy.ops.wm.save_as_mainfile(filepath=os.path.join(out_dir, "rig.blend"))
print("E2E " + json.dumps(report))
