"""Texture baking, checked by rendering the textured mesh from the generator's cameras."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from backend.cameras import orbit_cameras
from backend.geometry import GridRegion, extract_mesh
from backend.texture import PhotoProjection, TexturedMesh, bake_texture, render_textured

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


def _photo_baked(head, mesh, projection, photo, label):
    """Bake with ``projection`` only: the textured mesh, the generator's render from ``label``,
    the photo at that size, and the textured mesh's view from there (rgb, covered)."""
    textured = bake_texture(head, WS, mesh, size=512, views=None, photos=[projection])
    size = head.neural_rendering_resolution
    with torch.no_grad():
        ref = head.synthesis(WS, label)
    target = np.asarray(Image.fromarray(photo).resize((size, size), Image.BOX)) / 255.0
    return (textured, ref, target, *render_textured(textured, label[0], size))


def test_a_photo_is_projected_at_full_resolution_and_feathered_into_the_generators_colour(baked):
    """A 'photo' of stripes, given at twice its crop's resolution, lands in the texture where it
    sees the head, unchanged; where it cannot see, the generator's colour stays, matched to the
    photo's."""
    head, mesh, plain = baked
    label = orbit_cameras(20.0, 5.0)
    crop = 256
    rows, cols = np.mgrid[0 : 2 * crop, 0 : 2 * crop]
    stripes = np.stack([(cols // 64) % 2, (rows // 96) % 2, ((rows + cols) // 128) % 2], -1)
    photo = (stripes * 200 + 30).astype(np.uint8)  # the original, twice the crop's size
    projection = PhotoProjection(
        image=photo,
        camera=label[0].numpy(),
        crop_size=crop,
        crop_to_image=np.diag([2.0, 2.0, 1.0]),
        mask=np.ones((crop, crop), np.float32),
    )
    textured, ref, target, rgb, covered = _photo_baked(head, mesh, projection, photo, label)
    size = head.neural_rendering_resolution
    before, _ = render_textured(plain, label[0], size)
    # The inner face, seen squarely (edges are feathered and sampled at grazing angles).
    centre = np.abs(np.mgrid[0:size, 0:size] - size / 2).max(0) < size / 4
    inner = covered & centre & (ref["image_mask"][0, 0].numpy() > 0.95)
    assert inner.sum() > 0.1 * inner.size
    ours, without = psnr(rgb[inner], target[inner]), psnr(before[inner], target[inner])
    print(f"photo region: {ours:.1f} dB with the photo, {without:.1f} dB without")
    assert ours > 18 and ours > without + 8
    # The back of the head, which the photo cannot see, keeps the generator's colour, brought
    # to the photo's light by one bounded gain and offset per channel.
    back = orbit_cameras(180.0, 0.0)[0]
    plain_back, seen = render_textured(plain, back, size)
    photo_back, _ = render_textured(textured, back, size)
    for channel in range(3):
        was, now = plain_back[seen][:, channel], photo_back[seen][:, channel]
        gain, offset = np.polyfit(was, now, 1)
        assert 0.8 - 1e-3 <= gain <= 1.25 + 1e-3 and abs(offset) <= 0.1 + 1e-3, (gain, offset)
        assert np.abs(now - (gain * was + offset)).mean() < 0.02


@pytest.mark.parametrize("surround", [True, False])
def test_a_photo_with_a_surround_is_projected_beyond_its_crop(baked, surround):
    """The crop sees the lower face close up (the forehead is cut off); the photo's surround,
    twice the crop's field, sees the whole head: the forehead takes the photo's colour only
    when the surround is given."""
    head, mesh, _ = baked
    chin = (0.0, -0.12, 0.0)
    crop = 128
    wide = orbit_cameras(0.0, 5.0, target=chin)
    narrow = orbit_cameras(0.0, 5.0, target=chin, focal=2 * float(wide[0, 16]))
    rows, cols = np.mgrid[0 : 2 * crop, 0 : 2 * crop]
    stripes = np.stack([(cols // 32) % 2, (rows // 48) % 2, ((rows + cols) // 64) % 2], -1)
    photo = (stripes * 200 + 30).astype(np.uint8)  # the surround's field, 1:1 with the crop
    projection = PhotoProjection(
        image=photo,
        camera=narrow[0].numpy(),
        crop_size=crop,
        crop_to_image=np.array([[1.0, 0, crop / 2], [0, 1.0, crop / 2], [0, 0, 1]]),
        mask=np.ones((crop, crop), np.float32),
        surround=np.ones((crop, crop), np.float32) if surround else None,
        surround_scale=2.0,
    )
    _, ref, target, rgb, covered = _photo_baked(head, mesh, projection, photo, wide)
    size = head.neural_rendering_resolution
    rows, cols = np.mgrid[0:size, 0:size]
    # Above the crop, well inside the head's outline.
    above = (rows < size / 4) & (np.abs(cols - size / 2) < size / 8)
    region = covered & above & (ref["image_mask"][0, 0].numpy() > 0.95)
    assert region.sum() > 10
    score = psnr(rgb[region], target[region])
    print(f"above the crop: {score:.1f} dB (surround {surround})")
    assert score > 18 if surround else score < 12
