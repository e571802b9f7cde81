"""The add-on for real: built zip -> installed in bpy 5.0.1 -> a real backend process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.common.protocol import Message, decode, encode

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def addon_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "build_addon.py"),
            "--platforms",
            "linux-x64",
            "--out",
            str(out),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    (archive,) = out.glob("panorig-*-linux_x64.zip")
    return archive


def _start_backend(checkpoint: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "backend",
            "serve",
            "--bind",
            address,
            "--checkpoint",
            str(checkpoint),
            "--device",
            "cpu",
        ],
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while "listening" not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "backend did not start"
        time.sleep(0.1)
    return process, address


def run_blender_script(
    script: str, args: list, user_dir: Path, timeout: int = 600, python: str | Path = sys.executable
) -> dict:
    """Run a tests/blender script in a fresh bpy process (the project venv's bpy unless another
    ``python`` is given); returns its 'E2E {json}' report."""
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(user_dir))
    run = subprocess.run(
        [str(python), str(ROOT / "tests" / "blender" / script), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("E2E ")]
    assert run.returncode == 0 and lines, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(lines[-1][4:])
    print(json.dumps(report, indent=1))
    return report


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_generate_from_the_installed_extension(addon_zip, shared_dir, tmp_path):
    backend, address = _start_backend(
        shared_dir / "fixtures/panohead_tiny/G_tiny.pkl", tmp_path / "backend.log"
    )
    try:
        report = run_blender_script(
            "e2e_addon.py", [addon_zip, address, backend.pid, tmp_path], tmp_path / "blender_user"
        )
    finally:
        backend.kill()
        backend.wait()
    assert report["generate_poll_before_connect"] is False
    assert report["generate_poll_while_busy"] is False
    assert report["status"].startswith("Connected (cpu)")
    assert "Truncation = nan is not a finite number" in report["nan_error"]
    assert "Traceback" not in str(report["nan_generate"]) and not report["nan_started_job"]
    assert report["last_error"] == "" and report["heads"] == 1
    assert 1000 <= report["faces"] <= 5000 and 500 <= report["vertices"] <= 5000
    assert report["uv_layers"] == ["UVMap"]
    assert report["image_size"] == [512, 512] and report["image_packed"]
    assert any("density" in s for s in report["stages_seen"]) and report["preview"]
    # The head is in Blender's frame: +z up, inside the generator's box.
    lo, hi = report["bounds"]
    assert all(-0.5 <= v <= 0.5 for v in lo + hi)
    assert 0.02 < report["coverage"] < 0.95 and report["rgb_std_on_head"] > 0.01
    # Connect pressed mid-job: the head still lands, or the job is cancelled, as chosen.
    assert report["reconnect_heads"] == 2 and report["reconnect_error"] == ""
    assert report["reconnect_stage"].startswith("Added PanoRig_seed2")
    assert report["cancel_heads"] == 2 and report["cancel_stage"] == "Cancelled"
    # Killing the backend mid-job: reported within the 5 s timeout (+ a ping interval).
    assert report["lost_after_seconds"] < 5 + 2 + 1
    assert "did not answer pings" in report["error_after_kill"]
    assert report["scene_unchanged"]


def test_version_mismatch_reaches_the_user_as_one_clear_error():
    header = json.loads(bytes(encode(Message("pong", job="p"))[0]))
    header["v"] = 99
    with pytest.raises(Exception) as err:
        decode([json.dumps(header).encode()])
    assert "Update the PanoRig add-on and the backend to the same release" in err.value.hint
