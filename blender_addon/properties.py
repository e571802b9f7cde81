"""Settings kept in the .blend (Scene) and live state kept per session (WindowManager).

The head settings take their labels, help, defaults and limits from the settings schema the
backend validates with (``common.settings``), so the panel offers exactly what the backend
accepts.
"""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    StringProperty,
)

from .shared import settings as schema

# The head settings the panel shows, by schema group.
PANEL_SETTINGS = {
    schema.HeadSettings: ("seed", "psi"),
    schema.MeshSettings: ("resolution", "faces", "level", "border"),
    schema.TextureSettings: ("texture", "views"),
}
# The photo inversion settings the panel's "From photo" box shows.
PHOTO_SETTINGS = {schema.InversionSettings: ("steps", "tune_steps", "fit_resolution")}


def schema_property(group: type, name: str):
    """The bpy property for one schema setting: same label, help, default and limits.

    An optional setting (None = automatic) gets its maximum as the default; the panel pairs
    it with an ``<name>_auto`` toggle (see ``request_values``).
    """
    info = next(f for f in schema.fields_of(group) if f.name == name)
    spec = info.spec
    if spec.choices is not None:
        labels = spec.choice_labels or tuple(str(c) for c in spec.choices)
        items = tuple((str(c), label, "") for c, label in zip(spec.choices, labels, strict=True))
        return EnumProperty(
            name=spec.label, description=spec.help, items=items, default=str(info.default)
        )
    default = spec.max if info.default is None else info.default
    kind = {int: IntProperty, float: FloatProperty}[info.kind]
    return kind(name=spec.label, description=spec.help, min=spec.min, max=spec.max, default=default)


def request_values(settings: bpy.types.PropertyGroup) -> dict:
    """The panel's head settings as the backend's request parameters, checked by the schema
    (a NaN typed into a field is refused here, with the field's label, before anything is sent).
    """
    return _checked_values(settings, PANEL_SETTINGS)[0]


def inversion_values(settings: bpy.types.PropertyGroup) -> dict:
    """Every ``InversionSettings`` parameter: the panel's, checked, and the defaults of the
    ones it does not show."""
    _, (inversion,) = _checked_values(settings, PHOTO_SETTINGS)
    return schema.as_dict(inversion)


def _checked_values(settings: bpy.types.PropertyGroup, groups: dict) -> tuple[dict, tuple]:
    """(the fields of ``groups`` the panel shows, by name; the validated groups)."""
    values = {}
    for group, names in groups.items():
        for info in schema.fields_of(group):
            if info.name not in names:
                continue
            value = getattr(settings, info.name)
            if info.spec.choices is not None:
                value = info.kind(value)
            elif info.kind is float:
                # Blender stores single precision: 0.7 reads back as 0.699999988. Send the
                # number the artist typed, as the command line would get it.
                value = float(f"{value:.7g}")
            if info.optional and getattr(settings, f"{info.name}_auto"):
                value = None
            values[info.name] = value
    labels = {f.name: f.spec.label for g in groups for f in schema.fields_of(g)}
    return values, schema.split(tuple(groups), values, name=lambda n: labels.get(n, n))


class PanoRigPhoto(bpy.types.PropertyGroup):
    """One photo to invert; ``name`` (built in) is its file name, which the list shows."""

    filepath: StringProperty(name="File", subtype="FILE_PATH", description="The photo's file")


class PanoRigCrop(bpy.types.PropertyGroup):
    """One photo as the backend aligned it; ``name`` is the photo's file name."""

    image: StringProperty(description="The Blender image showing the aligned crop")
    yaw: FloatProperty(name="Yaw", description="The face's yaw in degrees (0 = frontal)")
    pitch: FloatProperty(name="Pitch", description="The face's pitch in degrees")
    roll: FloatProperty(name="Roll", description="The face's roll in degrees")
    landmarks_found: BoolProperty(description="Face landmarks were found in the photo")
    warning: StringProperty(description="What may make this photo a poor fit")


class PanoRigSettings(bpy.types.PropertyGroup):
    __annotations__ = {
        **{
            name: schema_property(group, name)
            for group, names in PANEL_SETTINGS.items()
            for name in names
        },
        **{
            name: schema_property(group, name)
            for group, names in PHOTO_SETTINGS.items()
            for name in names
        },
        "photos": CollectionProperty(
            type=PanoRigPhoto, name="Photos", description="Photos of the person to invert"
        ),
        "photo_index": IntProperty(name="Active photo", default=0, min=0),
        "views_auto": BoolProperty(
            name="Auto",
            default=True,
            description="Super-resolved views only for generators that have super-resolution",
        ),
        "fit_resolution_auto": BoolProperty(
            name="Auto",
            default=True,
            description="Fit at the generator's own render size (on a CPU, 32 or 64 is several "
            "times faster)",
        ),
        "bake_correctives": BoolProperty(
            name="Bake pose correctives",
            default=False,
            description="Key the FLAME pose correctives from imported animation instead of "
            "driving them live from the bones (faster playback, no drivers)",
        ),
    }


class PanoRigState(bpy.types.PropertyGroup):
    status: StringProperty(default="Not connected")
    job: StringProperty(default="")
    stage: StringProperty(default="")
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    last_error: StringProperty(default="")
    preview: StringProperty(default="")
    crops: CollectionProperty(type=PanoRigCrop)  # the last 'align' result
    photo_note: StringProperty(default="")  # photos downscaled for the last request, one a line


CLASSES = (PanoRigPhoto, PanoRigCrop, PanoRigSettings, PanoRigState)


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
