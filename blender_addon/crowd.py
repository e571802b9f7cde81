"""A crowd from a batch folder: each head imported once into its own collection (kept out of the
view layer), and placed in a grid as collection instances. An instance is an empty pointing at
the head's data, so duplicating heads around a scene (Alt+D) costs no mesh memory, and running
Import batch again reuses the heads already imported."""

from __future__ import annotations

import bpy

from .batch_folder import BatchHead, grid_positions

SOURCE = "PanoRig batch heads"  # one child collection per head, excluded from the view layer
CROWD = "PanoRig crowd"  # the instances


def import_batch(
    context: bpy.types.Context, heads: list[BatchHead], spacing: float
) -> list[bpy.types.Object]:
    """Place ``heads`` in a grid ``spacing`` apart; returns the instances made."""
    scene = context.scene
    source = _child_collection(scene.collection, SOURCE)
    crowd = _child_collection(scene.collection, CROWD)
    instances = []
    for head, (x, y) in zip(heads, grid_positions(len(heads), spacing), strict=True):
        instance = bpy.data.objects.new(head.key, None)
        instance.instance_type = "COLLECTION"
        instance.instance_collection = _head_collection(context, source, head)
        instance.location = (x, y, 0.0)
        crowd.objects.link(instance)
        instances.append(instance)
    # Excluded after the imports, which need the collection in the view layer.
    context.view_layer.layer_collection.children[source.name].exclude = True
    return instances


def _child_collection(parent: bpy.types.Collection, name: str) -> bpy.types.Collection:
    collection = bpy.data.collections.get(name) or bpy.data.collections.new(name)
    if collection.name not in parent.children:
        parent.children.link(collection)
    return collection


def _head_collection(
    context: bpy.types.Context, source: bpy.types.Collection, head: BatchHead
) -> bpy.types.Collection:
    """The head's collection, importing its .glb the first time."""
    name = f"PanoRig {head.key}"
    collection = bpy.data.collections.get(name)
    if collection is not None:
        return collection
    collection = bpy.data.collections.new(name)
    source.children.link(collection)
    context.view_layer.layer_collection.children[source.name].exclude = False
    before = set(bpy.data.objects)
    # glTF's +Y up becomes Blender's +Z up in the importer, as the add-on's own heads are.
    bpy.ops.import_scene.gltf(filepath=str(head.mesh))
    for obj in set(bpy.data.objects) - before:
        for users in list(obj.users_collection):
            users.objects.unlink(obj)
        collection.objects.link(obj)
        if obj.type == "MESH":
            obj.name = obj.data.name = head.key
    return collection
