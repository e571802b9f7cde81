"""Keyframes through Blender 5's slotted actions (channelbags), written in bulk."""

from __future__ import annotations

import bpy
import numpy as np

from .rig_decode import Channels

LINEAR = 1  # the enum value of 'LINEAR' interpolation in keyframe_points


def _channelbag(owner: bpy.types.ID, name: str, id_type: str):
    """The channelbag of a new action assigned to ``owner`` (4.4+ slotted-action API)."""
    action = bpy.data.actions.new(name)
    slot = action.slots.new(id_type=id_type, name=owner.name)
    strip = action.layers.new("PanoRig").strips.new(type="KEYFRAME")
    owner.animation_data_create()
    owner.animation_data.action = action
    owner.animation_data.action_slot = slot
    return strip.channelbag(slot, ensure=True)


def _curve(bag, data_path: str, index: int, group: str, frames: np.ndarray, values: np.ndarray):
    fcurve = bag.fcurves.new(data_path, index=index, group_name=group)
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
        bag = _channelbag(rig_obj, f"{name}_pose", "OBJECT")
        for bone, quaternions in channels.bones.items():
            path = f'pose.bones["{bone}"].rotation_quaternion'
            for i in range(4):
                _curve(bag, path, i, bone, frames, quaternions[:, i])
    if channels.shapes:
        key = head.data.shape_keys
        bag = _channelbag(key, f"{name}_expression", "KEY")
        for shape, values in channels.shapes.items():
            _curve(bag, f'key_blocks["{shape}"].value', 0, "Expression", frames, values)
    scene = bpy.context.scene
    scene.frame_start = int(frames[0])
    scene.frame_end = max(scene.frame_end, int(frames[-1]))
