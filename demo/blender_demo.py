"""The Blender side of ``make demo`` (runs in a fresh bpy 5.0.1 process; see make_demo.py).

Everything goes through the installed add-on: its client, its handlers and scene builders,
its rig builder and animation import. Prints one 'DEMO {json}' line.

    python blender_demo.py ZIP ADDRESS SEEDS FLAME OUT_DIR
"""

import json
import math
import os
import sys
import time

import bpy
from mathutils import Vector
from PIL import Image, ImageDraw

zip_path, address, seeds_arg, flame, out_dir = sys.argv[1:6]
seeds = [int(s) for s in seeds_arg.split(",") if s.strip()]
times: dict = {}
notes: list = []
files: dict = {}


def timed(name: str):
    class _Timer:
        def __enter__(self):
            self.start = time.perf_counter()

        def __exit__(self, *exc):
            times[name] = time.perf_counter() - self.start

    return _Timer()


for obj in list(bpy.data.objects):  # the startup scene's cube, camera and light
    bpy.data.objects.remove(obj)

with timed("install add-on in Blender"):
    bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True
    )
package = "bl_ext.user_default.panorig"
runtime = sys.modules[f"{package}.runtime"]
prefs = bpy.context.preferences.addons[package].preferences
prefs.mode, prefs.address, prefs.timeout = "CONNECT", address, 300.0
prefs.flame_model = flame
state = bpy.context.window_manager.panorig
context = bpy.context


def pump_until(done, limit: float) -> None:
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > limit:
            raise SystemExit(f"timed out: {state.status} / {state.stage} / {state.last_error}")
        runtime.pump()
        time.sleep(0.02)
    if state.last_error:
        raise SystemExit(f"PanoRig reported: {state.last_error}")


bpy.ops.panorig.connect()
pump_until(lambda: state.status.startswith("Connected"), 60)
notes.append(f"backend: {state.status}")

settings = context.scene.panorig
# Texture views stay automatic: the demo model has no super-resolution, so none are projected.
settings.resolution, settings.faces, settings.texture = 192, 30000, "1024"
settings.psi = 1.0  # the demo family was trained on untruncated latents: each seed's own traits
heads = []
for i, seed in enumerate(seeds):
    settings.seed = seed
    with timed(f"generate seed {seed} (mesh + texture)"):
        bpy.ops.panorig.generate()
        pump_until(lambda: runtime.RUNTIME.job is None, 900)
    head = bpy.data.objects[f"PanoRig_seed{seed}"]
    head.location.x = 0.8 * i  # side by side, in generator units
    heads.append(head)
    notes.append(state.stage)

rigs = []
for head in heads:
    for obj in context.view_layer.objects:
        obj.select_set(False)
    head.select_set(True)
    context.view_layer.objects.active = head
    with timed(f"bind {head.name}"):
        bpy.ops.panorig.bind_head()
        pump_until(lambda: runtime.RUNTIME.job is None, 300)
    notes.append(state.stage)
    rigs.append(head.parent)

scene = context.scene
scene.render.fps = 24
with timed("demo animation (keyframes)"):
    for rig in rigs:
        context.view_layer.objects.active = rig
        bpy.ops.panorig.demo_animation()
scene.frame_start = 1

# Lighting and camera: a soft key, a fill, and the generator's camera (13.4 degree lens).
world = bpy.data.worlds.new("PanoRig world")
world.use_nodes = True
world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.05, 0.05, 0.06, 1)
scene.world = world
# Soft, mostly frontal key (a grazing sun draws a hard shadow line down the face), a fill from
# the other side and a rim light from behind.
for name, energy, rot in (
    ("Key", 3.0, (55, 0, -20)),
    ("Fill", 1.3, (70, 0, 35)),
    ("Rim", 1.0, (115, 0, 180)),
):
    light = bpy.data.objects.new(name, bpy.data.lights.new(name, "SUN"))
    light.data.energy = energy
    light.data.angle = math.radians(15)
    light.rotation_euler = tuple(math.radians(a) for a in rot)
    scene.collection.objects.link(light)
camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
# a little wider than the generator's 13.4 degrees so the whole head and neck are in frame
camera.data.sensor_fit, camera.data.sensor_width, camera.data.lens = "HORIZONTAL", 36.0, 100.0
scene.collection.objects.link(camera)
scene.camera = camera
scene.render.engine = "CYCLES"
scene.cycles.device, scene.cycles.samples = "CPU", 24
scene.render.resolution_x = scene.render.resolution_y = 256
scene.render.film_transparent = False


def aim(target, yaw_deg: float, pitch_deg: float = 5.0, distance: float = 2.7) -> None:
    """Camera on an orbit around ``target`` (Blender frame: the face looks toward -y)."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    flat = distance * math.cos(pitch)
    offset = Vector((flat * math.sin(yaw), -flat * math.cos(yaw), distance * math.sin(pitch)))
    camera.location = Vector(target) + offset
    camera.rotation_euler = (-offset).to_track_quat("-Z", "Y").to_euler()


def render(path: str) -> str:
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)
    return path


turntable = []
with timed("turntable renders (Cycles CPU)"):
    scene.frame_set(1)
    for head in heads:
        for other in heads:  # one head per turntable
            other.hide_render = other is not head
        centre = tuple(head.matrix_world.translation)
        for yaw in range(0, 360, 45):
            aim(centre, yaw)
            turntable.append(render(os.path.join(out_dir, f"turntable_{head.name}_{yaw:03d}.png")))
animation = []
with timed("animation frames (Cycles CPU)"):
    for other in heads:
        other.hide_render = other is not heads[0]
    centre = tuple(heads[0].matrix_world.translation)
    aim(centre, 20.0)
    for frame in (1, 30, 60, 90, 120):
        scene.frame_set(frame)
        animation.append(render(os.path.join(out_dir, f"animation_{frame:03d}.png")))

with timed("contact sheet"):
    rows = [turntable[i : i + 8] for i in range(0, len(turntable), 8)] + [animation]
    size = 160
    sheet = Image.new("RGB", (size * 8, size * len(rows) + 24), (18, 18, 20))
    draw = ImageDraw.Draw(sheet)
    draw.text(
        (6, 5),
        "PanoRig demo: turntables of the generated heads (top), the rigged head "
        "animated by the built-in performance (bottom)",
        fill=(220, 220, 220),
    )
    for r, row in enumerate(rows):
        for c, path in enumerate(row):
            sheet.paste(
                Image.open(path).convert("RGB").resize((size, size)), (c * size, 24 + r * size)
            )
    sheet_path = os.path.join(out_dir, "contact_sheet.png")
    sheet.save(sheet_path)

for head in heads:
    head.hide_render = False
with timed("save .blend"):
    blend = os.path.join(out_dir, "demo.blend")
    bpy.ops.wm.save_as_mainfile(filepath=blend)
files.update(
    {
        "blend": blend,
        "contact sheet": sheet_path,
        "turntable": out_dir,
        "animation": ", ".join(os.path.basename(p) for p in animation),
    }
)
print("DEMO " + json.dumps({"times": times, "notes": notes, "files": files}))
