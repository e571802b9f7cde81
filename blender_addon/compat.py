"""Every difference between the Blender releases the add-on supports (4.2 LTS to 5.x), decided
here once from ``bpy.app.version``; the rest of the add-on calls these and never checks versions.
"""

from __future__ import annotations

import bpy

VERSION: tuple[int, int] = tuple(bpy.app.version[:2])
# Slotted (layered) actions became the only kind of new action in 4.4; 5.0 removed the legacy
# ``Action.fcurves`` that 4.2 and 4.3 have instead.
SLOTTED_ACTIONS = VERSION >= (4, 4)
# EEVEE Next shipped as 'BLENDER_EEVEE_NEXT' in 4.2-4.5; 5.0 took the old name back.
EEVEE = "BLENDER_EEVEE" if VERSION >= (5, 0) else "BLENDER_EEVEE_NEXT"


def new_keyframe_channels(owner: bpy.types.ID, name: str, id_type: str):
    """A new action assigned to ``owner``; returns what holds its F-curves (``.fcurves``): the
    slot's channelbag (4.4+) or the action itself (4.2-4.3)."""
    action = bpy.data.actions.new(name)
    owner.animation_data_create()
    if not SLOTTED_ACTIONS:
        owner.animation_data.action = action
        return action
    slot = action.slots.new(id_type=id_type, name=owner.name)
    strip = action.layers.new("PanoRig").strips.new(type="KEYFRAME")
    owner.animation_data.action = action
    owner.animation_data.action_slot = slot
    return strip.channelbag(slot, ensure=True)


def new_fcurve(channels, data_path: str, index: int, group: str) -> bpy.types.FCurve:
    """An F-curve in ``channels`` (from ``new_keyframe_channels``), in the named group."""
    if not SLOTTED_ACTIONS:
        return channels.fcurves.new(data_path, index=index, action_group=group)
    if VERSION >= (5, 0):
        return channels.fcurves.new(data_path, index=index, group_name=group)
    # 4.4-4.5: channelbag F-curves are created ungrouped; the group is assigned afterwards.
    fcurve = channels.fcurves.new(data_path, index=index)
    fcurve.group = channels.groups.get(group) or channels.groups.new(group)
    return fcurve


def material_node_tree(material: bpy.types.Material) -> bpy.types.NodeTree:
    """The material's shader nodes; 5.0 creates materials with nodes and deprecates
    ``use_nodes``, older releases create them without."""
    if VERSION < (5, 0):
        material.use_nodes = True
    return material.node_tree
