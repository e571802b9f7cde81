"""Building Blender data from decoded results (the only module here that writes scene data)."""

from __future__ import annotations

import bpy
import numpy as np

from .compat import material_node_tree
from .decode import MeshData

COLLECTION = "PanoRig"


def panorig_collection(scene: bpy.types.Scene) -> bpy.types.Collection:
    collection = bpy.data.collections.get(COLLECTION)
    if collection is None:
        collection = bpy.data.collections.new(COLLECTION)
    if collection.name not in scene.collection.children:
        scene.collection.children.link(collection)
    return collection


def build_mesh(name: str, data: MeshData) -> bpy.types.Mesh:
    """Mesh datablock written with foreach_set (fast for 100k+ vertices)."""
    mesh = bpy.data.meshes.new(name)
    n_faces = len(data.faces)
    mesh.vertices.add(len(data.vertices))
    mesh.vertices.foreach_set("co", data.vertices.reshape(-1))
    mesh.loops.add(3 * n_faces)
    mesh.loops.foreach_set("vertex_index", data.faces.reshape(-1))
    mesh.polygons.add(n_faces)
    mesh.polygons.foreach_set("loop_start", np.arange(0, 3 * n_faces, 3, dtype=np.int32))
    if data.corner_uv is not None:  # before validate(), which may drop degenerate faces
        layer = mesh.uv_layers.new(name="UVMap")
        layer.uv.foreach_set("vector", data.corner_uv.reshape(-1))
    mesh.update(calc_edges=True)
    mesh.validate()
    mesh.shade_smooth()
    return mesh


def build_image(name: str, data: MeshData) -> bpy.types.Image:
    width, height = data.size
    image = bpy.data.images.new(name, width, height, alpha=False)
    image.colorspace_settings.name = "sRGB"
    image.pixels.foreach_set(data.pixels)
    image.update()
    image.pack()  # keep the texture inside the .blend
    return image


def build_material(name: str, image: bpy.types.Image | None) -> bpy.types.Material:
    """Principled BSDF with the baked albedo; renders the same in Cycles and EEVEE."""
    material = bpy.data.materials.new(name)
    tree = material_node_tree(material)
    nodes, links = tree.nodes, tree.links
    bsdf = next(node for node in nodes if node.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Roughness"].default_value = 0.55
    if image is not None:
        texture = nodes.new("ShaderNodeTexImage")
        texture.image = image
        texture.location = (bsdf.location.x - 400, bsdf.location.y)
        links.new(texture.outputs["Color"], bsdf.inputs["Base Color"])
    return material


def add_head(context: bpy.types.Context, name: str, data: MeshData) -> bpy.types.Object:
    """A textured head object in the 'PanoRig' collection, selected and active."""
    mesh = build_mesh(name, data)
    image = build_image(f"{name}_albedo", data) if data.pixels is not None else None
    mesh.materials.append(build_material(name, image))
    obj = bpy.data.objects.new(name, mesh)
    panorig_collection(context.scene).objects.link(obj)
    for other in context.view_layer.objects:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    return obj


def set_preview(name: str, rgb: np.ndarray) -> bpy.types.Image:
    """Show a uint8 [H, W, 3] preview in an image datablock (replaced on every update)."""
    height, width = rgb.shape[:2]
    image = bpy.data.images.get(name)
    if image is None or tuple(image.size) != (width, height):
        if image is not None:
            bpy.data.images.remove(image)
        image = bpy.data.images.new(name, width, height, alpha=False)
    rgba = np.ones((height, width, 4), np.float32)
    rgba[..., :3] = rgb[::-1] / np.float32(255.0)
    image.pixels.foreach_set(rgba.reshape(-1))
    image.update()
    image.preview_ensure()
    return image
