"""Runs inside a fresh bpy process (see test_batch_blender.py): registers the add-on from the
source tree, runs Import batch on a batch folder twice and on a folder that is not a batch, and
prints the crowd it made as one JSON line.

    python batch_import.py BATCH_DIR NOT_A_BATCH_DIR
"""

import json
import sys
from pathlib import Path

import bpy

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import blender_addon  # noqa: E402

batch_dir, not_a_batch = sys.argv[1:3]
blender_addon.register()
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
for mesh in list(bpy.data.meshes):  # the start-up cube's
    bpy.data.meshes.remove(mesh)
report: dict = {}
assert bpy.ops.panorig.import_batch(directory=batch_dir, spacing=0.8) == {"FINISHED"}
crowd = bpy.data.collections["PanoRig crowd"]
report["instances"] = sorted(obj.name for obj in crowd.objects)
report["types"] = sorted({obj.instance_type for obj in crowd.objects})
report["locations"] = {obj.name: list(obj.location) for obj in crowd.objects}
report["instanced"] = {obj.name: obj.instance_collection.name for obj in crowd.objects}
report["meshes"] = len(bpy.data.meshes)
report["head_faces"] = sorted(len(m.polygons) for m in bpy.data.meshes)
layer = bpy.context.view_layer.layer_collection.children["PanoRig batch heads"]
report["source_excluded"] = layer.exclude
# Again, with two heads: new instances of the heads already imported, no new mesh data.
assert bpy.ops.panorig.import_batch(directory=batch_dir, limit=2) == {"FINISHED"}
report["instances_after_second"] = len(crowd.objects)
report["meshes_after_second"] = len(bpy.data.meshes)
# Not a batch folder: the operator says so and the scene is unchanged.
try:
    bpy.ops.panorig.import_batch(directory=not_a_batch)
except RuntimeError as exc:  # bpy.ops raises the operator's error report
    report["bad_folder_error"] = str(exc)
report["last_error"] = bpy.context.window_manager.panorig.last_error
report["instances_after_bad"] = len(crowd.objects)
print("E2E " + json.dumps(report))
