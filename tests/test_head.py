"""The one head pipeline: the command line and the service make the same head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from backend import head as head_module
from backend.cli import main
from backend.common.settings import MeshSettings, TextureSettings
from backend.models import open_generator
from backend.service.jobs import JobContext, ModelCache, generate

from .analytic_head import AnalyticHead

FIXTURE = "fixtures/panohead_tiny/G_tiny.pkl"
SETTINGS = {"seed": 3, "resolution": 48, "faces": 1500, "level": 0.0, "texture": 0}


def test_mesh_command_and_service_make_the_same_head(shared_dir, tmp_path):
    checkpoint = str(shared_dir / FIXTURE)
    out = tmp_path / "head.ply"
    argv = ["mesh", "--checkpoint", checkpoint, "--device", "cpu", "--out", str(out)]
    for key, value in SETTINGS.items():
        argv += [f"--{key}", str(value)]
    assert main(argv) == 0
    from_cli = trimesh.load(out, process=False)

    ctx = JobContext(
        params=dict(SETTINGS, preview=False),
        arrays={},
        progress=lambda fraction, stage: None,
        preview=lambda image: None,
        models=ModelCache("cpu", checkpoint),
    )
    _, arrays = generate(ctx)
    assert len(arrays["faces"]) == len(from_cli.faces) > 500
    np.testing.assert_allclose(arrays["vertices"], from_cli.vertices, atol=1e-6)


class _Spy:
    def __init__(self) -> None:
        self.views = None

    def __call__(self, G, ws, mesh, size, views, progress=None, photos=()):
        self.views = tuple(views)
        return mesh


@pytest.mark.parametrize(("has_sr", "expected"), [(False, 0), (True, 16)])
def test_automatic_texture_views_follow_super_resolution(monkeypatch, has_sr, expected):
    spy = _Spy()
    monkeypatch.setattr(head_module, "bake_texture", spy)
    G = AnalyticHead()
    G.superresolution = torch.nn.Identity() if has_sr else None
    mesh = MeshSettings(resolution=48, faces=2000, neck_y=-0.3, border=0.0)
    head_module.make_head(G, torch.zeros(1, 1, 1), mesh, TextureSettings(texture=256))
    assert len(spy.views) == expected
    head_module.make_head(G, torch.zeros(1, 1, 1), mesh, TextureSettings(texture=256, views=3))
    assert len(spy.views) == 3  # an explicit choice is kept


def test_the_demo_model_bakes_no_views_by_default():
    G = open_generator("demo", "cpu")
    assert not head_module.has_superresolution(G)
    assert TextureSettings().views_for(head_module.has_superresolution(G)) == 0
