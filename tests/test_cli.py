"""The command line: ``python -m backend sample`` and ``convert``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from backend.cli import main
from backend.cli.options import parse_int_ranges
from backend.sampling import seed_latent

ROOT = Path(__file__).resolve().parents[1]


def test_sample_writes_images_and_masks(shared_dir, tmp_path):
    ckpt = shared_dir / "fixtures" / "panohead_tiny" / "G_tiny.pkl"
    code = main(
        [
            "sample",
            "--checkpoint",
            str(ckpt),
            "--seeds",
            "0-1",
            "--yaw",
            "0,90,180,270",
            "--pitch",
            "0",
            "--psi",
            "0.7",
            "--device",
            "cpu",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    images = sorted(tmp_path.glob("seed*_yaw*[0-9].png"))
    masks = sorted(tmp_path.glob("*_mask.png"))
    assert len(images) == 8 and len(masks) == 8
    first = np.asarray(Image.open(images[0]))
    assert first.shape == (128, 128, 3) and first.dtype == np.uint8
    assert np.asarray(Image.open(masks[0])).shape == (128, 128)
    # Different views and different seeds give different pictures.
    views = {np.asarray(Image.open(p)).tobytes() for p in images}
    assert len(views) == 8


def test_seed_latent_matches_the_reference_scripts():
    z = seed_latent(7, 512)
    expected = np.random.RandomState(7).randn(1, 512)
    assert torch.allclose(z.double(), torch.from_numpy(expected), atol=1e-6)


def test_int_ranges():
    assert parse_int_ranges("0-3,7") == [0, 1, 2, 3, 7]
    with pytest.raises(Exception, match="not a list"):
        parse_int_ranges("3-1")


def test_convert_command_and_bad_checkpoint_message(shared_dir, tmp_path):
    ckpt = shared_dir / "fixtures" / "panohead_tiny" / "G_tiny.pkl"
    out = tmp_path / "tiny.safetensors"
    run = subprocess.run(
        [sys.executable, "-m", "backend", "convert", str(ckpt), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert out.is_file() and "wrote" in run.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend",
            "sample",
            "--checkpoint",
            str(tmp_path / "missing.pkl"),
            "--out",
            str(tmp_path / "x"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "checkpoint not found" in bad.stderr and "Traceback" not in bad.stderr
