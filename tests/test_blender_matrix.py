"""The built extension end to end in every Blender release it supports whose bpy wheel runs on
Python 3.11: installed, connected to a real backend on the demo model, generate, bind, import a
take, one Cycles frame (and one EEVEE frame in one release). Small settings: this is a
compatibility check, the quality checks live in test_blender_addon.py and test_blender_rig.py."""

from __future__ import annotations

import time

import pytest

from .bpy_venvs import bpy_python
from .test_blender_addon import _start_backend, addon_zip, run_blender_script  # noqa: F401
from .test_blender_rig import _live_link_csv

# The newest patch of each LTS, and the current release (5.1+ needs Python 3.13).
VERSIONS = ("4.2.23", "4.5.15", "5.0.1")
# EEVEE on software GL is slow; one frame in the release whose engine id differs from 5.0's.
EEVEE_IN = "4.2.23"
TAKE_FRAMES = 120  # 4 s: the reader needs whole seconds to tell the 30 fps rate


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    """One backend on the demo model, shared by the releases (each job is self-contained)."""
    log = tmp_path_factory.mktemp("backend") / "backend.log"
    process, address = _start_backend("demo", log)
    yield address
    process.kill()
    process.wait()


@pytest.mark.parametrize("version", VERSIONS)
def test_extension_end_to_end(version, addon_zip, backend, tmp_path):  # noqa: F811
    start = time.monotonic()
    python = bpy_python(version)
    venv_seconds = time.monotonic() - start
    _live_link_csv(tmp_path / "take.csv", frames=TAKE_FRAMES)
    args = [addon_zip, backend, tmp_path / "take.csv", tmp_path]
    report = run_blender_script(
        "e2e_matrix.py",
        args + (["eevee"] if version == EEVEE_IN else []),
        tmp_path / "blender_user",
        python=python,
    )
    print(f"bpy {version}: venv {venv_seconds:.0f} s, run {time.monotonic() - start:.0f} s")
    assert report["blender"].startswith(version.rsplit(".", 1)[0])
    assert "/extensions/" in report["zmq_from"]  # the bundled wheel, installed by Blender
    assert report["generate_error"] == "" and report["faces"] >= 1000
    assert report["bind_error"] == "" and "jaw" in report["bones"]
    assert report["shape_keys_at_zero"]
    assert report["shape_fcurves"] == 52 and report["keys_per_curve"] == TAKE_FRAMES
    assert report["grouped"]
    assert report["animated_motion"] > 1e-3
    renders = [report["cycles"]] + ([report["eevee"]] if version == EEVEE_IN else [])
    for render in renders:
        assert 0.05 < render["coverage"] < 0.95, render
        assert render["mean_rgb_on_head"] > 0.02, render  # lit, not black
