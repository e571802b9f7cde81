"""The Blender side of ``make demo`` (runs in a fresh bpy 5.0.1 process; see make_demo.py).

Everything goes through the installed add-on: its client, its handlers and scene builders,
its rig builder and animation import. Prints one 'DEMO {json}' line.

    python blender_demo.py ZIP ADDRESS SEEDS FLAME PHOTO OUT_DIR

PHOTO ('' for none) is inverted through the panel's "From photo" section into a third head.
"""

import json
import math
import os
import sys
import time

import bpy
import framing  # demo/framing.py: this script's folder is on sys.path
import numpy as np
from mathutils import Vector
from PIL import Image, ImageDraw

zip_path, address, seeds_arg, flame, photo, out_dir = sys.argv[1:7]
seeds = [int(s) for s in seeds_arg.split(",") if s.strip()]
VIEWS = 4  # turntable views per head: front, left, back, right
# The photo's fit: enough steps for its silhouette and colours around the head (the face itself
# comes from the photo, projected into the texture), at a render size a CPU fits in a minute.
FIT_STEPS, TUNE_STEPS, FIT_RESOLUTION = 60, 20, 32
# Cycles with few samples and denoising beats EEVEE on this software-GL CPU machine: about
# 8-10 s a 512² frame against EEVEE's 80 s first frame (shader compile) and 30 s after.
CYCLES_SAMPLES = 6
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
prefs.checkpoint = ""  # the backend's default: the model make_demo.py --checkpoint started it with
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
# The demo model's crowns reach y = 0.43, higher in the box than PanoHead's heads: PanoHead's
# 30/256 border would cut them flat at 0.38.
settings.border = 0.04
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

if photo:
    folder, name = os.path.split(photo)
    bpy.ops.panorig.add_photos(directory=folder, files=[{"name": name}])
    with timed(f"align {name}"):
        bpy.ops.panorig.align()
        pump_until(lambda: runtime.RUNTIME.job is None, 300)
    crop = state.crops[0]
    notes.append(f"{name}: yaw {crop.yaw:+.0f}, pitch {crop.pitch:+.0f}, roll {crop.roll:+.0f}")
    settings.steps, settings.tune_steps = FIT_STEPS, TUNE_STEPS
    settings.fit_resolution_auto, settings.fit_resolution = False, FIT_RESOLUTION
    with timed(f"invert {name} (fit + mesh + texture)"):
        bpy.ops.panorig.invert()
        pump_until(lambda: runtime.RUNTIME.job is None, 900)
    head = context.view_layer.objects.active  # the inverted head lands selected and active
    head.location.x = 0.8 * len(heads)
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

# Camera and light rig: a portrait lens framed on each head's own vertices (demo/framing.py),
# and a key/fill/rim set that moves with the camera, over a dim neutral world.
FOV = 20.0  # degrees; a ~100 mm portrait lens keeps the face's proportions
world = bpy.data.worlds.new("PanoRig world")
world.use_nodes = True
world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.04, 0.045, 0.05, 1)
scene.world = world
lights = {}
for name, energy in (("Key", 4.0), ("Fill", 0.8), ("Rim", 3.0)):
    light = bpy.data.objects.new(name, bpy.data.lights.new(name, "SUN"))
    light.data.energy = energy
    light.data.angle = math.radians(25)  # soft shadows, no hard terminator down the face
    scene.collection.objects.link(light)
    lights[name] = light
camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
camera.data.angle = math.radians(FOV)
scene.collection.objects.link(camera)
scene.camera = camera
scene.render.resolution_x = scene.render.resolution_y = 512
scene.render.film_transparent = True  # the alpha gives the framing figures; the sheet adds a
scene.render.image_settings.color_mode = "RGBA"  # backdrop
scene.render.engine = "CYCLES"
scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", CYCLES_SAMPLES, True


def world_points(obj) -> np.ndarray:
    """The object's evaluated (posed) vertices in world space."""
    evaluated = obj.evaluated_get(context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()
    co = np.empty(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", co)
    evaluated.to_mesh_clear()
    matrix = np.array(evaluated.matrix_world)
    return co.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3]


def aim(points: np.ndarray, yaw: float, pitch: float = 5.0, fill: float = 0.75) -> None:
    """Frame ``points`` from yaw/pitch and turn the light rig with the camera."""
    eye, forward = framing.frame_points(points, yaw, pitch, FOV, fill)
    camera.location = Vector(eye)
    camera.rotation_euler = Vector(forward).to_track_quat("-Z", "Y").to_euler()
    for name, direction in framing.three_point_lights(framing.orbit_basis(yaw, pitch)).items():
        lights[name].rotation_euler = Vector(direction).to_track_quat("-Z", "Y").to_euler()


figures: dict = {}  # file name -> (x offset, y offset, height fraction) from its alpha
frame_times: list = []


def render(path: str) -> str:
    scene.render.filepath = path
    start = time.perf_counter()
    bpy.ops.render.render(write_still=True)
    frame_times.append(time.perf_counter() - start)
    alpha = np.asarray(Image.open(path).getchannel("A"), dtype=np.float64) / 255
    figures[os.path.basename(path)] = framing.alpha_framing(alpha)
    return path


turntable = []
with timed("turntable renders (Cycles)"):
    scene.frame_set(1)
    for head in heads:
        for other in heads:  # one head per turntable
            other.hide_render = other is not head
        points = world_points(head)
        for yaw in range(0, 360, 360 // VIEWS):
            aim(points, yaw)
            path = os.path.join(out_dir, f"turntable_{head.name}_{yaw:03d}.png")
            turntable.append(render(path))
animation = []
with timed("animation frames (Cycles)"):
    for other in heads:
        other.hide_render = other is not heads[0]
    # framed on the rest pose with room for the performance's head turns
    aim(world_points(heads[0]), 20.0, fill=0.7)
    for frame in (1, 40, 80, 120):
        scene.frame_set(frame)
        animation.append(render(os.path.join(out_dir, f"animation_{frame:03d}.png")))
notes.append(f"Cycles: {len(frame_times)} frames at 512², {np.mean(frame_times):.1f} s each")
offsets = [max(abs(dx), abs(dy)) for dx, dy, _ in figures.values()]
heights = [h for _, _, h in figures.values()]
notes.append(
    f"framing: centre offset at most {max(offsets):.1%}, height {min(heights):.0%}-"
    f"{max(heights):.0%} of the frame"
)

with timed("contact sheet"):
    rows = [turntable[i : i + VIEWS] for i in range(0, len(turntable), VIEWS)] + [animation]
    size, top = 512, 40
    sheet = Image.new("RGB", (size * VIEWS, size * len(rows) + top), (18, 18, 20))
    # a soft vertical gradient behind each head, like a studio backdrop
    backdrop = Image.linear_gradient("L").resize((size, size)).point(lambda v: 62 - v // 6)
    backdrop = Image.merge("RGB", (backdrop, backdrop, backdrop.point(lambda v: v + 4)))
    draw = ImageDraw.Draw(sheet)
    draw.text(
        (10, 10),
        "PanoRig demo: turntables of the generated heads (seeds "
        + ", ".join(str(s) for s in seeds)
        + (f") and of the head inverted from {os.path.basename(photo)}" if photo else ")")
        + ", then a rigged head animated by the built-in performance",
        fill=(220, 220, 220),
        font_size=20,
    )
    for r, row in enumerate(rows):
        for c, path in enumerate(row):
            tile = backdrop.copy()
            view = Image.open(path).convert("RGBA")
            tile.paste(view, (0, 0), view)
            sheet.paste(tile, (c * size, top + r * size))
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
