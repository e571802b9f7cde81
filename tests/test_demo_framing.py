"""The demo's camera framing: each head centred within 5% of the frame and 60-85% of its height.

The math (demo/framing.py) is checked with plain numpy on a head-shaped cloud; low-resolution
Cycles renders of a real demo head, framed by the same function in a fresh bpy process, check
the rendered alpha.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DEMO = Path(__file__).resolve().parents[1] / "demo"
sys.path.insert(0, str(DEMO))
import framing  # noqa: E402  (demo/ is scripts, not a package)

FOV = 20.0


# (radii, centre) of ellipsoids making a head-sized shape off the origin: cranium, jaw and neck,
# taller than wide, longer at the back (the way the generator's heads sit in world units)
HEAD = [
    ((0.16, 0.2, 0.19), (0.8, 0.02, 0.08)),
    ((0.11, 0.12, 0.1), (0.8, -0.06, -0.06)),
    ((0.07, 0.07, 0.14), (0.8, 0.03, -0.2)),
]


def head_points() -> np.ndarray:
    rng = np.random.default_rng(0)
    unit = rng.normal(size=(4000, 3))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    return np.concatenate([unit * radii + centre for radii, centre in HEAD])


@pytest.mark.parametrize("yaw", [0, 60, 90, 180, 300])
def test_framed_points_are_centred_and_fill_the_height(yaw):
    points = head_points()
    eye, _ = framing.frame_points(points, yaw, 5.0, FOV, fill=0.75)
    uv = framing.project(points, eye, framing.orbit_basis(yaw, 5.0), FOV)
    low, high = uv.min(axis=0), uv.max(axis=0)
    # frame coordinates span [-1, 1]: centre offsets are half of them as fractions of the frame
    assert np.all(np.abs((low + high) / 4) < 0.005)
    assert (high[1] - low[1]) / 2 == pytest.approx(0.75, abs=0.005)


def test_alpha_framing_reads_the_opaque_box():
    alpha = np.zeros((100, 200))
    alpha[10:90, 60:100] = 1.0
    dx, dy, height = framing.alpha_framing(alpha)
    assert (dx, dy, height) == pytest.approx((-0.1, 0.0, 0.8))
    with pytest.raises(ValueError):
        framing.alpha_framing(np.zeros((4, 4)))


RENDER = """
import math, sys
sys.path.insert(0, sys.argv[1])
import bpy, numpy as np, framing
from mathutils import Vector
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
head = np.load(sys.argv[2])
mesh = bpy.data.meshes.new("Head")
mesh.from_pydata(head["vertices"].tolist(), [], head["faces"].tolist())
scene = bpy.context.scene
scene.collection.objects.link(bpy.data.objects.new("Head", mesh))
camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
camera.data.angle = math.radians(float(sys.argv[3]))
scene.collection.objects.link(camera)
scene.camera = camera
scene.render.engine = "CYCLES"
scene.cycles.samples, scene.cycles.use_denoising = 1, False
scene.render.resolution_x = scene.render.resolution_y = 96
scene.render.film_transparent = True
scene.render.image_settings.color_mode = "RGBA"
for yaw in (0, 90, 180, 270):
    eye, forward = framing.frame_points(head["vertices"], yaw, 5.0, float(sys.argv[3]))
    camera.location = Vector(eye)
    camera.rotation_euler = Vector(forward).to_track_quat("-Z", "Y").to_euler()
    scene.render.filepath = f"{sys.argv[4]}/yaw{yaw:03d}.png"
    bpy.ops.render.render(write_still=True)
"""


def test_a_real_head_renders_centred_filling_60_to_85_percent(tmp_path):
    """A head of the bundled demo generator, in Blender's frame as the add-on places it, framed
    the demo's way and rendered by Cycles from four sides: its alpha gives the figures."""
    from PIL import Image

    from backend.geometry import extract_mesh
    from backend.models import open_generator
    from backend.sampling import seed_ws
    from blender_addon.decode import generator_to_blender

    G = open_generator("demo")
    mesh = extract_mesh(G, seed_ws(G, 8, truncation_psi=1.0), resolution=64)
    head = tmp_path / "head.npz"
    np.savez(head, vertices=generator_to_blender(mesh.vertices), faces=mesh.faces)
    subprocess.run(
        [sys.executable, "-c", RENDER, str(DEMO), str(head), str(FOV), str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    for yaw in (0, 90, 180, 270):
        image = Image.open(tmp_path / f"yaw{yaw:03d}.png")
        alpha = np.asarray(image.getchannel("A"), dtype=np.float64) / 255
        dx, dy, height = framing.alpha_framing(alpha, threshold=0.1)
        assert abs(dx) < 0.05 and abs(dy) < 0.05, (yaw, dx, dy)
        assert 0.6 <= height <= 0.85, (yaw, height)
