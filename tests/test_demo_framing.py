"""The demo's camera framing: each head centred within 5% of the frame and 60-85% of its height.

The math (demo/framing.py) is checked with plain numpy on a head-shaped cloud; one
low-resolution Cycles render of the same shape, framed by the same function in a fresh bpy
process, checks the rendered alpha.
"""

from __future__ import annotations

import json
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
import json, math, sys
sys.path.insert(0, sys.argv[1])
import bpy, numpy as np, framing
from mathutils import Vector
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
for radii, centre in json.loads(sys.argv[2]):
    bpy.ops.mesh.primitive_uv_sphere_add(location=centre, scale=radii)
bpy.context.view_layer.update()
points = np.concatenate([
    [tuple(obj.matrix_world @ v.co) for v in obj.data.vertices] for obj in bpy.data.objects
])
scene = bpy.context.scene
camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
camera.data.angle = math.radians(float(sys.argv[3]))
scene.collection.objects.link(camera)
scene.camera = camera
eye, forward = framing.frame_points(points, 60.0, 5.0, float(sys.argv[3]))
camera.location = Vector(eye)
camera.rotation_euler = Vector(forward).to_track_quat("-Z", "Y").to_euler()
scene.render.engine = "CYCLES"
scene.cycles.samples, scene.cycles.use_denoising = 1, False
scene.render.resolution_x = scene.render.resolution_y = 96
scene.render.film_transparent = True
scene.render.image_settings.color_mode = "RGBA"
scene.render.filepath = sys.argv[4]
bpy.ops.render.render(write_still=True)
"""


def test_a_real_render_is_centred_and_fills_60_to_85_percent(tmp_path):
    from PIL import Image

    path = tmp_path / "frame.png"
    subprocess.run(
        [sys.executable, "-c", RENDER, str(DEMO), json.dumps(HEAD), str(FOV), str(path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    alpha = np.asarray(Image.open(path).getchannel("A"), dtype=np.float64) / 255
    dx, dy, height = framing.alpha_framing(alpha, threshold=0.1)
    assert abs(dx) < 0.05 and abs(dy) < 0.05
    assert 0.6 <= height <= 0.85
