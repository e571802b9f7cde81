"""The demo generator's distillation recipe (the training itself is ``train-demo``, too slow
for the suite; its held-out figures are in tests/test_demo_model.py)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.models.presets import demo
from backend.sampling import seed_latent
from backend.teacher.distill import (
    COLOUR_INSIDE,
    DistillSettings,
    colour_weight,
    teacher_samples,
    train_demo,
)
from backend.teacher.family import LATENT_DIM, teacher_head

ROOT = Path(__file__).resolve().parents[1]


def test_colour_counts_through_the_depth_renders_composite():
    sdf = torch.tensor([0.0, 0.02, -0.02, -COLOUR_INSIDE / 2, -COLOUR_INSIDE, 0.03, 0.1, -0.2])
    w = colour_weight(sdf)
    # on the surface, just outside it and down to COLOUR_INSIDE below it: full weight
    assert torch.equal(w[:5], torch.ones(5))
    # fading within 0.01 outside the band, and gone far out or deep in
    assert 0.3 < w[5] < 0.4
    assert w[6] < 1e-3 and w[7] < 1e-3


def test_colour_weight_fades_monotonically_away_from_the_band():
    outside = colour_weight(torch.linspace(0.02, 0.2, 50))
    inside = colour_weight(torch.linspace(-COLOUR_INSIDE, -0.3, 50))
    assert torch.all(outside[1:] <= outside[:-1]) and torch.all(inside[1:] <= inside[:-1])


def test_a_few_distillation_steps_train_the_generator():
    """The loop ``train-demo`` runs, at toy size: the losses are finite and the weights move."""
    settings = DistillSettings(steps=3, batch=2, batch_points=256, points=2000, render=8)
    data = [teacher_samples(seed, settings.points, settings.render) for seed in (1000, 1001)]
    G, record = train_demo(settings, data)
    assert len(record["history"]) == 2  # steps 0 and 2
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in record["history"])
    torch.manual_seed(settings.torch_seed)
    untrained = demo().build()
    moved = [
        (a - b).abs().max() for a, b in zip(G.parameters(), untrained.parameters(), strict=True)
    ]
    assert max(moved) > 0
    assert not G.training and G.backbone.mapping.w_avg.abs().sum() > 0


def test_training_resumes_from_a_given_generator():
    """``--resume``: the given generator is trained further, not replaced by a new one."""
    settings = DistillSettings(steps=2, batch=2, batch_points=256, points=2000, render=8)
    data = [teacher_samples(seed, settings.points, 8) for seed in (1000, 1001)]
    torch.manual_seed(7)
    start = demo().build()
    before = {k: v.clone() for k, v in start.state_dict().items()}
    torch.manual_seed(settings.torch_seed)
    fresh = demo().build().state_dict()
    G, _ = train_demo(settings, data, resume=start)
    assert G is start
    name = "backbone.synthesis.b8.conv1.weight"
    # moved from where it started, and not from where a new generator would start
    assert 0 < (G.state_dict()[name] - before[name]).abs().max() < 0.1
    assert (before[name] - fresh[name]).abs().max() > 0.1


def test_resumed_files_take_the_teachers_framing_and_latent(tmp_path):
    """A demo generator file from before the framing and the latent's scaling were recorded says
    PanoHead's framing and StyleGAN's scaling; trained on the teacher, it takes the demo
    preset's, with its weights."""
    from backend.cli.train_demo import _resumed
    from backend.models.checkpoint import save_generator

    older = dataclasses.replace(
        demo(), face_quad_y=0.6 / 1.1, face_quad_half=0.5 / 1.1, normalize_z=True
    )
    torch.manual_seed(3)
    saved = older.build()
    save_generator(saved, tmp_path / "older.safetensors")
    G, record = _resumed(tmp_path / "older.safetensors")
    assert G.config == demo() and record is None
    for name, value in saved.state_dict().items():
        assert torch.equal(G.state_dict()[name], value), name
    z = torch.randn(1, 8)
    c = torch.zeros(1, 25)
    assert not torch.allclose(G.mapping(z, c), G.mapping(1.3 * z, c))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--heads", "0"], "--heads 0 is too few"),
        (["--heads", "3"], "--heads 3 is too few"),
        (["--steps", "-5"], "--steps and --workers must be at least 1"),
        (["--workers", "0"], "--steps and --workers must be at least 1"),
        (["--out", "{tmp}/a-file/demo.safetensors"], "is a file, not a folder"),
        (["--out", "/proc/demo.safetensors"], "/proc is not writable"),
        (["--lr", "nan"], "--lr nan is out of range"),
        (["--lr", "-1"], "--lr -1.0 is out of range"),
        (["--render-weight", "inf"], "--render-weight inf is out of range"),
        (["--render-weight", "-0.5"], "--render-weight -0.5 is out of range"),
        (["--resume", "{tmp}/none.safetensors"], "checkpoint not found"),
        (["--resume", "{tmp}/tiny.safetensors"], "is not a demo generator"),
    ],
)
def test_train_demo_refuses_bad_arguments_before_any_work(args, message, tmp_path, capsys):
    from backend.cli import main
    from backend.models.checkpoint import save_generator
    from backend.models.presets import tiny

    (tmp_path / "a-file").write_text("")
    save_generator(tiny().build(), tmp_path / "tiny.safetensors")
    assert main(["train-demo", *(a.format(tmp=tmp_path) for a in args)]) == 2
    err = capsys.readouterr().err
    assert message in err and "teacher heads" not in err


def test_training_points_cover_the_eyes_and_the_hair():
    """Points drawn around the skin alone leave the irises and the hair's outside nearly bare
    (skin samples near seed 8's eyes: 1 iris colour in 3000); the teacher's part surfaces
    fill them in."""
    head = teacher_head(seed_latent(8, LATENT_DIM).numpy()[0], resolution=8)  # long hair, bun
    points = head.surface_points(3000, np.random.default_rng(0))
    sdf, rgb = head.field(points)
    assert len(points) == 3000
    assert np.abs(sdf).max() < 0.003  # on the outer surface, none buried
    to_eye = np.linalg.norm(points[:, None] - head.eye_centres[None], axis=-1).min(axis=1)
    assert (to_eye < head.eye_radius + 0.003).sum() >= 700  # a quarter: eyes, shell, curtain, bun
    assert np.all(np.isclose(rgb, head.traits.eyes, atol=0.01), axis=1).sum() >= 40  # irises
    off_skin, _ = head.samples.tree.query(points)
    assert (off_skin > 0.05).sum() >= 500  # long hair and the bun, well off the scalp


def test_teacher_heads_build_after_torch_has_started_its_threads():
    """``train-demo --resume`` loads its file, and so starts torch's OpenMP threads, before
    building the teacher heads in worker processes; forked workers hung there for good."""
    code = (
        "import torch; torch.set_num_threads(2); torch.ones(4_000_000).mul(2); "
        "from backend.teacher.distill import DistillSettings, build_dataset; "
        "data = build_dataset(DistillSettings(seeds=(1000, 1002), points=300, render=4)); "
        "print('HEADS', len(data))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert run.returncode == 0, run.stderr
    assert "HEADS 2" in run.stdout
