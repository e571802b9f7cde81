"""Runs inside a fresh bpy process (see test_addon_settings.py): registers the add-on from the
source tree and prints its head and photo settings' bpy properties as one JSON line, plus what
``request_values`` and ``inversion_values`` make of the defaults and ``request_values`` of a NaN
typed into a field.

    python addon_settings.py
"""

import json
import math
import sys
from pathlib import Path

import bpy

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import blender_addon  # noqa: E402
from blender_addon.properties import inversion_values, request_values  # noqa: E402
from blender_addon.shared import settings as schema  # noqa: E402

blender_addon.register()
report: dict = {"properties": {}}
for prop in bpy.types.Scene.bl_rna.properties["panorig"].fixed_type.properties:
    if prop.identifier == "rna_type":
        continue
    entry = {"name": prop.name, "description": prop.description, "type": prop.type}
    if prop.type in ("INT", "FLOAT"):
        entry.update(min=prop.hard_min, max=prop.hard_max, default=prop.default)
    elif prop.type == "ENUM":
        entry.update(items=[item.identifier for item in prop.enum_items], default=prop.default)
    report["properties"][prop.identifier] = entry

settings = bpy.context.scene.panorig
report["defaults"] = request_values(settings)
report["photo_defaults"] = inversion_values(settings)
settings.fit_resolution_auto, settings.fit_resolution = False, 32
report["photo_fit_32"] = inversion_values(settings)["fit_resolution"]
settings.fit_resolution_auto = True
for name in ("psi", "level"):
    setattr(settings, name, math.nan)
    try:
        request_values(settings)
        report[f"{name}_nan"] = "accepted"
    except schema.SettingsError as exc:
        report[f"{name}_nan"] = str(exc)
    setattr(settings, name, 1.0)
blender_addon.unregister()
print("E2E " + json.dumps(report))
