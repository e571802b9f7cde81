"""Runs inside a fresh bpy 5.0.1 process: a FLAME-layout rig (synthetic arrays in the shape the
backend's 'bind' returns) built by the add-on, with live corrective drivers and with baking,
plus FLAME sequence import and the release check. Prints one JSON line.

    python e2e_flame_drivers.py ZIP SEQUENCE_NPZ
"""

import json
import sys

import bpy
import numpy as np

zip_path, seq_path = sys.argv[1:3]
bpy.ops.extensions.package_install_files(
    filepath=zip_path, repo="user_default", enable_on_install=True
)
package = "bl_ext.user_default.panorig"
decode = sys.modules[f"{package}.decode"]
scene_mod = sys.modules[f"{package}.scene"]
rig_decode = sys.modules[f"{package}.rig_decode"]
rig_scene = sys.modules[f"{package}.rig_scene"]
runtime = sys.modules[f"{package}.runtime"]
sequences = sys.modules[f"{package}.common.sequences"]
report: dict = {}
rng = np.random.default_rng(0)


def head_and_rig(name: str, bake: bool):
    # A small sphere "head" in the generator frame (+y up), weighted neck above, jaw below.
    u, v = np.meshgrid(np.linspace(0, np.pi, 12), np.linspace(0, 2 * np.pi, 16, endpoint=False))
    pts = np.stack([np.sin(u) * np.cos(v), np.cos(u), np.sin(u) * np.sin(v)], -1).reshape(-1, 3)
    pts = np.unique(np.round(0.2 * pts, 6), axis=0).astype(np.float32)
    import scipy.spatial

    faces = scipy.spatial.ConvexHull(pts).simplices.astype(np.int32)
    arrays = {
        "vertices": pts,
        "faces": faces,
        "normals": pts / np.linalg.norm(pts, axis=1)[:, None],
    }
    head = scene_mod.add_head(bpy.context, name, decode.mesh_from_result(arrays))
    n = len(pts)
    weights = np.zeros((n, 5), np.float32)
    weights[:, 1] = (pts[:, 1] >= 0).astype(np.float32)
    weights[:, 2] = 1 - weights[:, 1]
    result = {
        "weights": weights,
        "joints": np.array(
            [
                [0, -0.2, 0],
                [0, -0.05, 0],
                [0, -0.05, 0.05],
                [0.05, 0.05, 0.15],
                [-0.05, 0.05, 0.15],
            ],
            np.float32,
        ),
        "parents": np.array([-1, 0, 1, 1, 1], np.int32),
        "expressions": rng.normal(scale=0.01, size=(3, n, 3)).astype(np.float32),
        "pose_correctives": rng.normal(scale=0.01, size=(36, n, 3)).astype(np.float32),
    }
    data = {
        "joint_names": ["root", "neck", "jaw", "eye_L", "eye_R"],
        "expression_names": ["exp_000", "exp_001", "exp_002"],
        "model_name": "FLAME 2020",
        "release": "flame2020",
        "scale": 1.0,
        "offset": [0.0, 0.0, 0.0],
        "residual": 0.001,
    }
    rig = rig_decode.rig_from_result(result, data)
    return head, rig_scene.build_rig(bpy.context, head, rig, bake)


head, rig = head_and_rig("live", bake=False)
keys = head.data.shape_keys.key_blocks
names = [k.name for k in keys]
report["keys"] = len(names)
report["pose_keys"] = sum(n.startswith("pose_") for n in names)
report["exp_range"] = [keys["exp_000"].slider_min, keys["exp_000"].slider_max]
drivers = head.data.shape_keys.animation_data.drivers
report["drivers"] = len(drivers)
report["simple_expressions"] = all(d.driver.is_simple_expression for d in drivers)
angle = 0.4
rig.pose.bones["neck"].rotation_quaternion = (np.cos(angle / 2), 0, np.sin(angle / 2), 0)
bpy.context.view_layer.update()
bpy.context.evaluated_depsgraph_get().update()
# R_y(0.4) - I: entry (0,0) = cos - 1, (0,2) = sin, (2,0) = -sin
report["pose_neck_00"] = keys["pose_neck_00"].value
report["pose_neck_02"] = keys["pose_neck_02"].value
report["expected_00"] = float(np.cos(angle) - 1)
report["expected_02"] = float(np.sin(angle))

seq = sequences.load_sequence(seq_path)
bpy.context.scene.render.fps = 25
channels = runtime.import_animation(bpy.context, rig, seq)
report["frames"] = len(channels.frames)
report["bones_keyed"] = sorted(channels.bones)
report["shapes_keyed"] = sorted(channels.shapes)

head2, rig2 = head_and_rig("baked", bake=True)
report["baked_drivers"] = (
    len(head2.data.shape_keys.animation_data.drivers)
    if (head2.data.shape_keys.animation_data)
    else 0
)
channels2 = runtime.import_animation(bpy.context, rig2, seq)
report["baked_pose_keys_keyed"] = sum(n.startswith("pose_") for n in channels2.shapes)

rig2["panorig_release"] = "flame2023"
try:
    runtime.import_animation(bpy.context, rig2, seq)
    report["mismatch"] = "accepted"
except ValueError as exc:
    report["mismatch"] = str(exc)
print("E2E " + json.dumps(report))
