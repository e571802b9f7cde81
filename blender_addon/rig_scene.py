"""Building the rig in Blender: armature, vertex groups, Armature modifier, shape keys and the
drivers of the pose correctives."""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Vector

from .rig_decode import BONE_Y, BONE_Z, RigData

BONE_LENGTH = 0.05  # in head units; bones are for posing, their length does not deform


def build_rig(
    context: bpy.types.Context, head: bpy.types.Object, rig: RigData, bake_correctives: bool
) -> bpy.types.Object:
    """Bind ``head`` to a new armature; returns the armature object (selected, active)."""
    armature = bpy.data.armatures.new(f"{head.name}_rig")
    rig_obj = bpy.data.objects.new(f"{head.name}_rig", armature)
    for collection in head.users_collection:
        collection.objects.link(rig_obj)
    _make_bones(context, rig_obj, rig)
    _vertex_groups(context, head, rig)
    modifier = head.modifiers.new("PanoRig armature", "ARMATURE")
    modifier.object = rig_obj
    modifier.use_deform_preserve_volume = False  # FLAME is linear blend skinning
    head.parent = rig_obj
    _shape_keys(head, rig)
    if not bake_correctives:
        add_corrective_drivers(head, rig_obj, rig)
    head["panorig_model"] = rig.model_name
    head["panorig_release"] = rig.release
    rig_obj["panorig_release"] = rig.release
    for obj in context.view_layer.objects:
        obj.select_set(False)
    rig_obj.select_set(True)
    context.view_layer.objects.active = rig_obj
    return rig_obj


def _make_bones(context: bpy.types.Context, rig_obj: bpy.types.Object, rig: RigData) -> None:
    context.view_layer.objects.active = rig_obj
    with context.temp_override(active_object=rig_obj, object=rig_obj):
        bpy.ops.object.mode_set(mode="EDIT")
        bones = rig_obj.data.edit_bones
        for name, joint in zip(rig.joint_names, rig.joints, strict=True):
            bone = bones.new(name)
            bone.head = Vector(joint)
            bone.tail = Vector(joint) + BONE_LENGTH * Vector(BONE_Y)
            bone.align_roll(Vector(BONE_Z))  # local axes = FLAME's: the values need no conversion
        for name, parent in zip(rig.joint_names, rig.parents, strict=True):
            if parent >= 0:
                bones[name].parent = bones[rig.joint_names[parent]]
        bpy.ops.object.mode_set(mode="OBJECT")
    for pose_bone in rig_obj.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"


def _vertex_groups(context: bpy.types.Context, head: bpy.types.Object, rig: RigData) -> None:
    """One group per joint, written as float attributes and converted in one operator call."""
    mesh = head.data
    for k, name in enumerate(rig.joint_names):
        attribute = mesh.attributes.new(name, "FLOAT", "POINT")
        attribute.data.foreach_set("value", np.ascontiguousarray(rig.weights[:, k]))
        mesh.attributes.active = attribute
        with context.temp_override(object=head, active_object=head):
            bpy.ops.geometry.attribute_convert(mode="VERTEX_GROUP")


def _shape_keys(head: bpy.types.Object, rig: RigData) -> None:
    mesh = head.data
    basis = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", basis)
    basis = basis.reshape(-1, 3)
    if mesh.shape_keys is None:
        head.shape_key_add(name="Basis", from_mix=False)
    groups = (
        (rig.expression_names, rig.expressions, rig.slider_range),
        (rig.corrective_names, rig.correctives, (-2.0, 2.0)),  # entries of R - I
    )
    for names, offsets, (lo, hi) in groups:
        for name, offset in zip(names, offsets, strict=True):
            key = head.shape_key_add(name=name, from_mix=False)
            key.points.foreach_set("co", (basis + offset).reshape(-1))
            key.slider_min, key.slider_max = lo, hi
            key.value = 0.0  # Blender 5 creates new keys at 1.0


def add_corrective_drivers(head: bpy.types.Object, rig_obj: bpy.types.Object, rig: RigData) -> None:
    """Drive every pose corrective live from its bone's quaternion (simple expressions: they
    run without Python, so they work with Auto Run off)."""
    key = head.data.shape_keys
    for name, (bone, expression) in zip(rig.corrective_names, rig.corrective_drivers, strict=True):
        fcurve = key.key_blocks[name].driver_add("value")
        driver = fcurve.driver
        driver.type = "SCRIPTED"
        for channel in "wxyz":
            var = driver.variables.new()
            var.name, var.type = channel, "TRANSFORMS"
            target = var.targets[0]
            target.id = rig_obj
            target.bone_target = bone
            target.transform_type = f"ROT_{channel.upper()}"
            target.rotation_mode = "QUATERNION"
            target.transform_space = "LOCAL_SPACE"
        driver.expression = expression
