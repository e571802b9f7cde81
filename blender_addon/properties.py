"""Settings kept in the .blend (Scene) and live state kept per session (WindowManager)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty


class PanoRigSettings(bpy.types.PropertyGroup):
    seed: IntProperty(name="Seed", min=0, max=2**31 - 1, default=0, description="Which head")
    psi: FloatProperty(
        name="Truncation",
        min=0.0,
        max=1.5,
        default=0.7,
        description="Lower = more average, cleaner heads; 1 = full variety",
    )
    resolution: IntProperty(
        name="Mesh resolution",
        min=32,
        max=1024,
        default=256,
        description="Lattice cells across the head's box (256 on a CPU, up to 1024 on a GPU)",
    )
    faces: IntProperty(name="Faces", min=500, max=2_000_000, default=60000)
    texture: IntProperty(
        name="Texture size", min=0, max=8192, default=2048, description="0 = no texture"
    )
    views: IntProperty(
        name="Texture views",
        min=0,
        max=16,
        default=16,
        description="Super-resolved renders projected into the texture",
    )
    level: FloatProperty(
        name="Iso level",
        default=10.0,
        description="Raw density of the surface (PanoHead's meshes use 10)",
    )
    bake_correctives: BoolProperty(
        name="Bake pose correctives",
        default=False,
        description="Key the FLAME pose correctives from imported animation instead of driving "
        "them live from the bones (faster playback, no drivers)",
    )


class PanoRigState(bpy.types.PropertyGroup):
    status: StringProperty(default="Not connected")
    job: StringProperty(default="")
    stage: StringProperty(default="")
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    last_error: StringProperty(default="")
    preview: StringProperty(default="")


CLASSES = (PanoRigSettings, PanoRigState)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.panorig = bpy.props.PointerProperty(type=PanoRigSettings)
    bpy.types.WindowManager.panorig = bpy.props.PointerProperty(type=PanoRigState)


def unregister() -> None:
    del bpy.types.WindowManager.panorig
    del bpy.types.Scene.panorig
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
