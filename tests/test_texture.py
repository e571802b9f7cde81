"""Texture baking, checked by rendering the textured mesh from the generator's cameras."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.cameras import orbit_cameras
from backend.geometry import GridRegion, extract_mesh
from backend.texture import TexturedMesh, bake_texture, render_textured

from .analytic_head import AnalyticHead

WS = torch.zeros(1, 1, 1)
CHECK_VIEWS = [(0.0, 0.0), (60.0, 10.0), (150.0, -5.0), (230.0, 20.0), (315.0, 0.0)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


@pytest.fixture(scope="module")
def baked():
    head = AnalyticHead(resolution=48)
    mesh = extract_mesh(
        head, WS, resolution=128, region=GridRegion(border=0.0, neck_y=-0.3), target_faces=20000
    )
    views = [(yaw, 0.0) for yaw in range(0, 360, 60)] + [(0.0, 60.0)]
    return head, mesh, bake_texture(head, WS, mesh, size=512, views=views)


def _scores(head, textured):
    ours, grey = [], []
    for yaw, pitch in CHECK_VIEWS:
        label = orbit_cameras(yaw, pitch)
        with torch.no_grad():
            ref = head.synthesis(WS, label)
        target = ((ref["image_raw"][0].permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy()
        inside = ref["image_mask"][0, 0].numpy() > 0.95
        rgb, covered = render_textured(textured, label[0], head.neural_rendering_resolution)
        pixels = inside & covered
        assert pixels.sum() > 0.2 * pixels.size  # the head fills a good share of the view
        ours.append(psnr(rgb[pixels], target[pixels]))
        grey.append(psnr(np.full_like(target[pixels], 0.5), target[pixels]))
    return np.mean(ours), np.mean(grey)


def test_textured_mesh_reproduces_the_generators_raw_image(baked):
    head, _, textured = baked
    ours, grey = _scores(head, textured)
    print(f"textured PSNR {ours:.1f} dB vs grey mesh {grey:.1f} dB")
    assert ours > grey + 10


def test_texture_layout(baked):
    _, mesh, textured = baked
    assert isinstance(textured, TexturedMesh)
    assert textured.image.shape == (512, 512, 3) and textured.image.dtype == np.uint8
    assert textured.uv.min() >= 0 and textured.uv.max() <= 1
    assert len(textured.faces) == len(mesh.faces)
    # Seam padding: almost no texel is left at the black of an unfilled image.
    assert (textured.image.sum(axis=2) == 0).mean() < 0.01


def test_feature_colour_alone_covers_the_back_of_the_head(baked):
    head, mesh, _ = baked
    feature_only = bake_texture(head, WS, mesh, size=512, views=None)
    ours, grey = _scores(head, feature_only)
    assert ours > grey + 10


def test_bad_texture_size_is_refused(baked):
    head, mesh, _ = baked
    with pytest.raises(ValueError, match="texture size"):
        bake_texture(head, WS, mesh, size=100)
