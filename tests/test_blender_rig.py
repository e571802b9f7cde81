"""Binding and animating a head for real in bpy 5.0.1 through the built add-on and a backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.common.sequences import ARKIT_NAMES
from backend.geometry import GridRegion, extract_mesh
from backend.texture import bake_texture

from .analytic_head import AnalyticHead
from .test_blender_addon import _start_backend, addon_zip, run_blender_script  # noqa: F401


def _head_npz(path):
    head = AnalyticHead()
    ws = torch.zeros(1, 1, 1)
    mesh = extract_mesh(head, ws, resolution=96, region=GridRegion(0.0, -0.3), target_faces=8000)
    textured = bake_texture(head, ws, mesh, size=256, views=None)
    np.savez(
        path,
        vertices=textured.vertices,
        faces=textured.faces,
        normals=textured.normals,
        uv=textured.uv,
        texture=textured.image,
    )


def _live_link_csv(path, frames: int = 300):
    """A Live Link Face-style take: talking (jawOpen), a smile and blinks, 30 fps timecodes."""
    t = np.arange(frames) / 30.0
    values = {name: np.zeros(frames) for name in ARKIT_NAMES}
    values["jawOpen"] = 0.5 * (1 + np.sin(2 * np.pi * 1.5 * t)) * (t > 1)
    values["mouthSmileLeft"] = values["mouthSmileRight"] = np.clip(np.sin(np.pi * t / 10), 0, 1)
    values["eyeBlinkLeft"] = values["eyeBlinkRight"] = (np.mod(t, 3) < 0.15).astype(float)
    header = ["Timecode", "BlendShapeCount"] + [n[0].upper() + n[1:] for n in ARKIT_NAMES]
    header += ["HeadYaw", "HeadPitch", "HeadRoll"]
    rows = [",".join(header)]
    for i in range(frames):
        seconds, frame = divmod(i, 30)
        cells = [f"00:00:{seconds:02d}:{frame:02d}.000", "61"]
        cells += [f"{values[n][i]:.4f}" for n in ARKIT_NAMES]
        cells += [f"{0.2 * np.sin(t[i]):.4f}", "0.0000", "0.0000"]
        rows.append(",".join(cells))
    path.write_text("\n".join(rows) + "\n")


def test_bind_pose_animate_render(addon_zip, shared_dir, tmp_path):  # noqa: F811
    _head_npz(tmp_path / "head.npz")
    _live_link_csv(tmp_path / "take.csv")
    backend, address = _start_backend(
        shared_dir / "fixtures/panohead_tiny/G_tiny.pkl", tmp_path / "backend.log"
    )
    try:
        report = run_blender_script(
            "e2e_rig.py",
            [addon_zip, address, tmp_path / "head.npz", tmp_path / "take.csv", tmp_path],
            tmp_path / "blender_user",
        )
    finally:
        backend.kill()
        backend.wait()
    assert report["bind_poll"] and report["last_error"] == "" and report["armature"]
    assert report["bones"] == ["root", "neck", "jaw", "eye_L", "eye_R"]
    assert sorted(report["vertex_groups"]) == sorted(report["bones"])
    assert report["modifiers"][0][0] == "ARMATURE"
    assert report["shape_keys"] == 1 + 52  # Basis + the ARKit face units
    assert report["smile_range"][0] < 0 and report["smile_range"][1] > 1
    # The jaw opens the mouth (down) and leaves the top of the head alone.
    assert report["jaw_weighted_vertices"] > 20
    assert report["jaw_mouth_motion"] > 0.005 and report["jaw_mouth_down"] < 0
    assert report["jaw_far_motion"] < 0.1 * report["jaw_mouth_motion"]
    assert report["smile_max_motion"] > 0.001 and report["smile_moving_vertices"] > 10
    assert report["frames"] == 300 and report["keys_per_curve"] == 300
    assert report["import_seconds"] < 1.0
    assert report["shape_fcurves"] == 52 and report["open_frame"] > 1
    assert report["render_difference"] > 0.005 and report["coverage"] > 0.05


def test_flame_rig_correctives_and_sequences(addon_zip, tmp_path):  # noqa: F811
    frames = 50
    t = np.linspace(0, 2, frames)
    np.savez(
        tmp_path / "flame_take.npz",
        expr=np.stack([np.sin(3 * t), np.cos(2 * t), 0.5 * t], 1).astype(np.float32),
        jaw_pose=np.stack([0.2 * np.abs(np.sin(5 * t)), 0 * t, 0 * t], 1).astype(np.float32),
        neck_pose=np.stack([0 * t, 0.3 * np.sin(t), 0 * t], 1).astype(np.float32),
        fps=np.float32(25.0),
        release=np.asarray("flame2020"),
    )
    report = run_blender_script(
        "e2e_flame_drivers.py",
        [addon_zip, tmp_path / "flame_take.npz"],
        tmp_path / "blender_user",
        timeout=300,
    )
    assert report["keys"] == 1 + 3 + 36 and report["pose_keys"] == 36
    assert report["exp_range"] == [-5.0, 5.0]
    assert report["drivers"] == 36 and report["simple_expressions"]
    assert report["pose_neck_00"] == pytest.approx(report["expected_00"], abs=1e-4)
    assert report["pose_neck_02"] == pytest.approx(report["expected_02"], abs=1e-4)
    assert report["frames"] == frames
    assert report["bones_keyed"] == ["jaw", "neck"]
    assert report["shapes_keyed"] == ["exp_000", "exp_001", "exp_002"]
    assert report["baked_drivers"] == 0 and report["baked_pose_keys_keyed"] == 18
    assert "tracked with flame2020" in report["mismatch"]
