"""Import batch: the Blender-free reading of a batch folder and its grid, then the operator in
bpy 5.0.1 placing the heads of a folder as collection instances."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trimesh

from blender_addon.batch_folder import batch_heads, grid_positions

from .test_blender_addon import run_blender_script

ROOT = Path(__file__).resolve().parents[1]


def _batch_folder(root, count: int = 4):
    """A folder laid out like the batch command's: heads/<key>.glb (+ .rig.npz), a temporary
    file that must be ignored, and the manifest."""
    heads = root / "heads"
    heads.mkdir(parents=True)
    for i in range(count):
        sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.25 + 0.01 * i)
        sphere.export(heads / f"seed_{i:06d}.glb")
    (heads / "seed_000000.rig.npz").write_bytes(b"")
    (heads / ".seed_000009.glb.1a2b.partial").write_bytes(b"")
    (root / "manifest").mkdir()
    return root


def test_batch_heads_reads_finished_heads_only(tmp_path):
    heads = batch_heads(_batch_folder(tmp_path))
    # The folder is read without Blender: checked in a fresh interpreter, since other tests
    # import bpy into this one.
    code = "import sys, blender_addon.batch_folder; print('bpy' in sys.modules)"
    fresh = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert fresh.stdout.strip() == "False", fresh.stderr
    assert [h.key for h in heads] == [f"seed_{i:06d}" for i in range(4)]
    assert heads[0].rig is not None and heads[1].rig is None
    assert [h.key for h in batch_heads(tmp_path, limit=2)] == ["seed_000000", "seed_000001"]
    with pytest.raises(ValueError, match="is not a batch folder"):
        batch_heads(tmp_path / "manifest")


def test_grid_positions_are_a_centred_near_square_grid():
    assert grid_positions(1, 1.0) == [(0.0, 0.0)]
    points = grid_positions(5, 2.0)  # 3 columns, 2 rows
    assert points[:3] == [(-2.0, -1.0), (0.0, -1.0), (2.0, -1.0)]
    assert points[3:] == [(-2.0, 1.0), (0.0, 1.0)]
    assert len(set(grid_positions(10_000, 1.0))) == 10_000


def test_import_batch_places_instances_in_blender(tmp_path):
    folder = _batch_folder(tmp_path / "crowd")
    report = run_blender_script(
        "batch_import.py", [folder, tmp_path], tmp_path / "blender_user", timeout=300
    )
    keys = [f"seed_{i:06d}" for i in range(4)]
    assert report["instances"] == keys and report["types"] == ["COLLECTION"]
    assert report["instanced"] == {k: f"PanoRig {k}" for k in keys}
    # A 2 x 2 grid 0.8 apart, centred, on the ground plane.
    locations = sorted(tuple(round(v, 4) for v in p) for p in report["locations"].values())
    assert locations == [(-0.4, -0.4, 0), (-0.4, 0.4, 0), (0.4, -0.4, 0), (0.4, 0.4, 0)]
    assert report["meshes"] == 4 and report["head_faces"] == [320] * 4
    assert report["source_excluded"]
    assert report["instances_after_second"] == 6 and report["meshes_after_second"] == 4
    assert "is not a batch folder" in report["last_error"]
    assert report["instances_after_bad"] == 6
