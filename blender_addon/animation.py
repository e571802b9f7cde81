"""Keyframes written in bulk, through compat's F-curve channels (slotted actions in 4.4+)."""

from __future__ import annotations

import bpy
import numpy as np

from .compat import new_fcurve, new_keyframe_channels
from .rig_decode import Channels

LINEAR = 1  # the enum value of 'LINEAR' interpolation in keyframe_points


def _curve(
    channels, data_path: str, index: int, group: str, frames: np.ndarray, values: np.ndarray
):
    fcurve = new_fcurve(channels, data_path, index, group)
    points = fcurve.keyframe_points
    points.add(len(frames))
    co = np.empty(2 * len(frames), np.float32)
    co[0::2], co[1::2] = frames, values
    points.foreach_set("co", co)
    points.foreach_set("interpolation", np.full(len(frames), LINEAR, np.int32))
    fcurve.update()


def apply_channels(
    rig_obj: bpy.types.Object, head: bpy.types.Object, channels: Channels, name: str
) -> None:
    """Write bone rotations onto the armature and shape-key values onto the head's keys."""
    frames = channels.frames
    if channels.bones:
        target = new_keyframe_channels(rig_obj, f"{name}_pose", "OBJECT")
        for bone, quaternions in channels.bones.items():
            path = f'pose.bones["{bone}"].rotation_quaternion'
            for i in range(4):
                _curve(target, path, i, bone, frames, quaternions[:, i])
    if channels.shapes:
        key = head.data.shape_keys
        target = new_keyframe_channels(key, f"{name}_expression", "KEY")
        for shape, values in channels.shapes.items():
            _curve(target, f'key_blocks["{shape}"].value', 0, "Expression", frames, values)
    scene = bpy.context.scene
    scene.frame_start = int(frames[0])
    scene.frame_end = max(scene.frame_end, int(frames[-1]))
