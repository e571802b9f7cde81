"""Photo inversion on the bundled demo generator: heads it made itself and a teacher head.

The "photos" are renders upsampled to 512 px, so the truth is known from every side. Fits render
at 32 px (the demo's own size is 128; 32 keeps the CPU tests to minutes), with 40 W+ steps and
15 tuning steps; silhouettes are compared at 64 px, ``image_mask`` > 0.5.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open

from backend.cameras import orbit_cameras
from backend.common.errors import PanoRigError
from backend.inversion.aligned import AlignedPhoto
from backend.inversion.head_file import load_head, read_head
from backend.inversion.losses import (
    LossWeights,
    foreground_psnr,
    masked_pixel_loss,
    structural_loss,
)
from backend.inversion.optimize import (
    PANORIG,
    camera_angles,
    depth_samples,
    invert,
    latent_statistics,
    locality_samples,
    refine_cameras,
    render,
    tune_generator,
)
from backend.models import open_generator
from backend.models.checkpoint import save_generator
from backend.models.errors import CheckpointError
from backend.sampling import seed_latent, seed_ws
from backend.teacher.family import LATENT_DIM, teacher_head

FIT = 32  # render size while fitting
EVAL = 64  # render size of the checks
STEPS, TUNE_STEPS = 40, 15
SCHEDULE = replace(PANORIG, resolution=FIT)
# Seed 3185 (not a training seed: those are 1000-1287) pushed away from the average head
# (psi 2): the family's heads are similar blobs in silhouette, and a target near the mean
# could not be told from the mean head by its silhouettes.
TARGET_SEED, TARGET_PSI = 3185, 2.0
UNSEEN = (90.0, 180.0, 270.0)


@pytest.fixture(scope="module")
def demo():
    return open_generator("demo")


def _photo(image: torch.Tensor, mask: torch.Tensor, yaw: float, pitch: float, name: str):
    """An aligned 512 px photo from a render ([1, 3, R, R], [1, 1, R, R]) whose camera is
    given as (yaw, pitch), as landmarks would estimate it."""
    image = F.interpolate(image, size=(512, 512), mode="bilinear", align_corners=False)
    mask = F.interpolate(mask, size=(512, 512), mode="bilinear", align_corners=False)
    return AlignedPhoto(
        image=((image[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy(),
        camera=orbit_cameras(yaw, pitch)[0].numpy(),
        mask=mask[0, 0].clamp(0, 1).numpy(),
        landmarks=np.zeros((0, 2), np.float32),
        yaw=yaw,
        pitch=pitch,
        roll=0.0,
        source=name,
    )


def _render(G, ws, cameras, size=EVAL):
    with torch.no_grad():
        return render(G, ws, cameras, size)


def _generated_photo(G, ws, yaw, pitch, estimate):
    out = _render(G, ws, orbit_cameras(yaw, pitch))
    return _photo(out["image"], out["image_mask"], *estimate, name=f"yaw{yaw:g}.png")


def _iou(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """Silhouette IoU per view of two [V, 1, H, W] masks."""
    a, b = a[:, 0] > 0.5, b[:, 0] > 0.5
    return [float((x & y).sum() / (x | y).sum()) for x, y in zip(a, b, strict=True)]


def _silhouettes(G, ws, yaws=UNSEEN, size=EVAL):
    return _render(G, ws, orbit_cameras(list(yaws), 5.0), size)["image_mask"]


def _fit_psnr(G, ws, camera, photo: AlignedPhoto, size=EVAL) -> float:
    """Foreground PSNR (photo mask > 0.5) of the render at ``camera`` against the photo
    downsampled to ``size``."""
    out = _render(G, ws, camera[None], size)
    image = torch.from_numpy(photo.image).permute(2, 0, 1)[None].float() / 127.5 - 1
    mask = torch.from_numpy(photo.mask)[None, None]
    image = F.interpolate(image, (size, size), mode="bilinear", antialias=True)
    mask = F.interpolate(mask, (size, size), mode="bilinear", antialias=True)
    return foreground_psnr(out["image"], image, mask)


@pytest.fixture(scope="module")
def target(demo):
    return seed_ws(demo, TARGET_SEED, TARGET_PSI)


@pytest.fixture(scope="module")
def one_photo(demo, target):
    """The target seen at yaw 30, pitch 5, landmarks saying yaw 24, pitch 8."""
    photo = _generated_photo(demo, target, 30.0, 5.0, (24.0, 8.0))
    before = {k: v.clone() for k, v in demo.state_dict().items()}
    stages, previews = [], []
    head = invert(
        demo,
        [photo],
        steps=STEPS,
        tune_steps=TUNE_STEPS,
        progress=lambda fraction, stage: stages.append((fraction, stage)),
        schedule=SCHEDULE,
        preview=previews.append,
    )
    return {"photo": photo, "head": head, "before": before, "stages": stages, "previews": previews}


def test_unseen_views_match_the_head_and_beat_the_mean_head(demo, target, one_photo):
    head = one_photo["head"]
    w_avg, _ = latent_statistics(demo)
    truth = _silhouettes(demo, target)
    inverted = _iou(_silhouettes(head.G, head.ws), truth)
    mean = _iou(_silhouettes(demo, w_avg.expand(1, demo.num_ws, -1)), truth)
    print(f"IoU at yaw {UNSEEN}: inverted {np.round(inverted, 3)}, mean head {np.round(mean, 3)}")
    assert min(inverted) >= 0.90
    assert all(i > m for i, m in zip(inverted, mean, strict=True))
    assert np.mean(inverted) >= np.mean(mean) + 0.05


def test_tuning_improves_the_fit_at_the_photo(demo, one_photo):
    """Foreground PSNR at 64 px: the pivot on the original generator, then on the tuned one."""
    head, photo = one_photo["head"], one_photo["photo"]
    before = _fit_psnr(demo, head.ws, head.cameras[0], photo)
    after = _fit_psnr(head.G, head.ws, head.cameras[0], photo)
    print(f"foreground PSNR at the photo's view: {before:.2f} dB before tuning, {after:.2f} after")
    assert after >= 28.0
    assert after > before


def test_camera_is_refined_toward_the_true_view(demo, one_photo):
    """Three targets seen at yaw 30, landmarks saying 24: each camera moves toward the truth,
    and the typical one ends within 3 degrees of it (one head's silhouette says less about its
    yaw than another's: with the bundled file, seed 3185 ends at 25.5, 3186 and 3187 at 27.9
    and 30.6)."""
    head = one_photo["head"]
    angles = [camera_angles(head.cameras)[0].tolist()]
    for seed in (TARGET_SEED + 1, TARGET_SEED + 2):
        photo = _generated_photo(demo, seed_ws(demo, seed, TARGET_PSI), 30.0, 5.0, (24.0, 8.0))
        other = invert(demo, [photo], steps=STEPS, tune_steps=TUNE_STEPS, schedule=SCHEDULE)
        angles.append(camera_angles(other.cameras)[0].tolist())
    yaws, rolls = np.array(angles)[:, 0], np.array(angles)[:, 2]
    print(f"refined cameras (yaw, pitch, roll; truth 30, 5, 0): {np.round(angles, 2).tolist()}")
    assert np.all(np.abs(yaws - 30.0) < 6.0)  # the landmark estimate was 6 degrees off
    assert np.median(np.abs(yaws - 30.0)) < 3.0
    assert np.all(np.abs(rolls) < 3.0)
    yaw, pitch, roll = angles[0]
    meta = head.photos[0]
    assert set(meta) == {"file", "yaw", "pitch", "roll", "landmarks_found"}
    assert meta["file"] == "yaw30.png" and meta["landmarks_found"] is False
    assert [meta["yaw"], meta["pitch"], meta["roll"]] == pytest.approx([yaw, pitch, roll])


def test_progress_and_previews(one_photo):
    stages, previews = one_photo["stages"], one_photo["previews"]
    assert len(stages) == STEPS + TUNE_STEPS  # one report per step
    assert stages[0][1].startswith(f"W+ step 1/{STEPS}, loss ")
    assert stages[-1][1].startswith(f"tuning step {TUNE_STEPS}/{TUNE_STEPS}, loss ")
    fractions = [f for f, _ in stages]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert len(previews) >= (STEPS + TUNE_STEPS) // 10
    assert all(p.dtype == np.uint8 and p.shape[2] == 3 for p in previews)
    assert previews[-1].shape == (FIT, FIT, 3)


def test_original_generator_is_untouched(demo, one_photo):
    assert one_photo["head"].G is not demo
    after = demo.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in one_photo["before"].items())
    assert not any(p.requires_grad for p in demo.parameters())
    tuned = one_photo["head"].G.state_dict()
    assert any(not torch.equal(v, tuned[k]) for k, v in after.items())


def test_locality_keeps_other_heads(demo, one_photo):
    """Heads the tuning never saw (other latents than the locality term's) barely change, and
    less than when the same tuning runs without the term."""
    ws, cameras, frozen = locality_samples(demo, 2, EVAL, seed=99)

    def psnr(tuned):
        changed = [_render(tuned, ws[i : i + 1], cameras[i : i + 1]) for i in range(2)]
        errors = [
            ((c["image"] - f["image"]) / 2).square().mean()
            for c, f in zip(changed, frozen, strict=True)
        ]
        return float(-10 * torch.log10(torch.stack(errors).mean()))

    head, photo = one_photo["head"], one_photo["photo"]
    schedule = replace(SCHEDULE, tune_steps=TUNE_STEPS)
    without_term = tune_generator(
        demo, head.ws, [photo], head.cameras, schedule, LossWeights(locality=0.0)
    )[0]
    with_term, without = psnr(head.G), psnr(without_term)
    print(f"far heads, PSNR tuned vs original: {with_term:.1f} dB, without locality {without:.1f}")
    assert with_term >= 35.0
    assert with_term >= without + 1.0


def test_head_file_round_trip(tmp_path, demo, one_photo):
    head = one_photo["head"]
    path = head.save(tmp_path / "person.safetensors")
    assert [p.name for p in tmp_path.iterdir()] == ["person.safetensors"]  # no temporary left
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        keys = set(f.keys())
    assert meta["kind"] == "head"
    assert {"head.ws", "head.cameras", "head.images", "head.masks"} <= keys
    assert set(meta) >= {"photos", "losses", "config", "format", "format_version"}
    back = read_head(path)
    assert back.photos == head.photos and back.losses == head.losses
    assert torch.equal(back.ws, head.ws) and torch.equal(back.cameras, head.cameras)
    assert np.array_equal(back.images, head.images) and back.images.dtype == np.uint8
    assert np.array_equal(back.masks, head.masks)
    G2, ws2 = load_head(path)
    ours = _render(head.G, head.ws, head.cameras, FIT)["image"]
    assert torch.equal(_render(G2, ws2, head.cameras, FIT)["image"], ours)
    assert torch.equal(_render(back.G, back.ws, back.cameras, FIT)["image"], ours)
    plain = save_generator(demo, tmp_path / "generator.safetensors")
    with pytest.raises(CheckpointError, match="not a head file"):
        read_head(plain)
    with pytest.raises(CheckpointError, match="not found"):
        load_head(tmp_path / "missing.safetensors")


def test_two_photos_do_at_least_as_well_as_one(demo, target, one_photo):
    """Front and profile (yaw 0 and 90) against the yaw-30 photo alone, at the views neither
    saw (180, 270); both fits W+ only, same steps, judged on the original generator."""
    photos = [
        _generated_photo(demo, target, 0.0, 5.0, (3.0, 2.0)),
        _generated_photo(demo, target, 90.0, 5.0, (85.0, 8.0)),
    ]
    two = invert(demo, photos, steps=STEPS, tune_steps=0, schedule=SCHEDULE)
    truth = _silhouettes(demo, target, (180.0, 270.0))
    iou_two = _iou(_silhouettes(demo, two.ws, (180.0, 270.0)), truth)
    iou_one = _iou(_silhouettes(demo, one_photo["head"].ws, (180.0, 270.0)), truth)
    print(f"IoU at yaw 180, 270: two photos {np.round(iou_two, 3)}, one {np.round(iou_one, 3)}")
    assert np.mean(iou_two) >= np.mean(iou_one)
    assert len(two.photos) == 2 and two.cameras.shape == (2, 25)


def test_teacher_head(demo):
    """A MakeHuman teacher head (seed 5: the demo was distilled from others of the family),
    photographed at yaw 30, pitch 5 at 32 px (the teacher renders slowly). Bounds, from
    measurements with some room: foreground PSNR at the photo >= 30 dB after tuning and better
    than before; silhouette IoU >= 0.95 at the photo's view, >= 0.93 at the back (unseen) and
    better there than the mean head's."""
    teacher = teacher_head(seed_latent(5, LATENT_DIM).numpy()[0], resolution=FIT)
    with torch.no_grad():
        shot = teacher.synthesis(torch.zeros(1, 1, 1), orbit_cameras(30.0, 5.0))
        back = teacher.synthesis(torch.zeros(1, 1, 1), orbit_cameras(180.0, 5.0))
    photo = _photo(shot["image_raw"], shot["image_mask"], 24.0, 8.0, "teacher.png")
    head = invert(demo, [photo], steps=30, tune_steps=10, schedule=SCHEDULE)
    before = _fit_psnr(demo, head.ws, head.cameras[0], photo, FIT)
    after = _fit_psnr(head.G, head.ws, head.cameras[0], photo, FIT)
    seen = _iou(_render(head.G, head.ws, head.cameras, FIT)["image_mask"], shot["image_mask"])[0]
    behind = _iou(_silhouettes(head.G, head.ws, (180.0,), FIT), back["image_mask"])[0]
    w_avg, _ = latent_statistics(demo)
    mean_ws = w_avg.expand(1, demo.num_ws, -1)
    mean_behind = _iou(_silhouettes(demo, mean_ws, (180.0,), FIT), back["image_mask"])[0]
    print(
        f"teacher head: foreground PSNR {before:.2f} dB before tuning, {after:.2f} after; "
        f"IoU {seen:.3f} at the photo's view, {behind:.3f} at the back "
        f"(mean head {mean_behind:.3f})"
    )
    assert after >= 30.0 and after > before
    assert seen >= 0.95 and behind >= 0.93 and behind > mean_behind


def test_cancel_stops_within_a_step(demo, one_photo):
    calls = []

    def progress(fraction, stage):
        calls.append(stage)
        if len(calls) == 3:
            raise KeyboardInterrupt("cancelled")

    tiny = replace(SCHEDULE, resolution=16, coarse=0.0)
    with pytest.raises(KeyboardInterrupt, match="cancelled"):
        invert(demo, [one_photo["photo"]], steps=10, tune_steps=5, progress=progress, schedule=tiny)
    assert len(calls) == 3


def _bad(photo: AlignedPhoto, **changes) -> AlignedPhoto:
    return replace(photo, **changes)


@pytest.mark.parametrize(
    "case, message",
    [
        ("none", "no photos"),
        ("sizes", "differ in size"),
        ("nan_camera", "25 finite numbers"),
        ("not_rotation", "not a rotation"),
        ("mask", "mask must be"),
        ("not_square", "must be square"),
        ("float_image", "uint8"),
    ],
)
def test_bad_inputs_are_refused(demo, case, message):
    good = AlignedPhoto(
        image=np.zeros((64, 64, 3), np.uint8),
        camera=orbit_cameras(0.0, 0.0)[0].numpy(),
        mask=np.ones((64, 64), np.float32),
        landmarks=np.zeros((0, 2), np.float32),
        yaw=0.0,
        pitch=0.0,
        roll=0.0,
    )
    camera = good.camera.copy()
    camera[5] = np.nan
    skewed = good.camera.copy()
    skewed[0] = 2.0
    photos = {
        "none": [],
        "sizes": [good, _bad(good, image=np.zeros((32, 32, 3), np.uint8))],
        "nan_camera": [_bad(good, camera=camera)],
        "not_rotation": [_bad(good, camera=skewed)],
        "mask": [_bad(good, mask=np.ones((32, 32), np.float32))],
        "not_square": [_bad(good, image=np.zeros((64, 48, 3), np.uint8))],
        "float_image": [_bad(good, image=np.zeros((64, 64, 3), np.float32))],
    }[case]
    with pytest.raises(PanoRigError, match=message):
        invert(demo, photos, steps=1, tune_steps=0)


# ----------------------------------------------------------------------------- building blocks


def test_light_renders_stand_in_for_full_ones(demo, target):
    """The W+ stage renders with a third of the samples per ray until its last tenth: a cheap
    render that is close to the full one, and the full one (all samples) exactly as before."""
    assert depth_samples(demo, SCHEDULE, 0.0) == (16, 16)  # the demo renders with 48 + 48
    assert depth_samples(demo, SCHEDULE, 0.89) == (16, 16)
    assert depth_samples(demo, SCHEDULE, 0.9) is None
    assert depth_samples(demo, replace(SCHEDULE, light=0.0), 0.0) is None
    camera = orbit_cameras(30.0, 5.0)
    full = _render(demo, target, camera, FIT)
    with torch.no_grad():
        same = render(demo, target, camera, FIT, (48, 48))
        light = render(demo, target, camera, FIT, depth_samples(demo, SCHEDULE, 0.0))
    assert torch.equal(same["image"], full["image"])
    assert not torch.equal(light["image"], full["image"])
    assert foreground_psnr(light["image"], full["image"], full["image_mask"]) > 45
    assert _iou(light["image_mask"], full["image_mask"])[0] > 0.98
    with pytest.raises(ValueError, match="at least 2 coarse samples"):
        render(demo, target, camera, FIT, (1, 16))


def test_refined_cameras_stay_rigid_and_report_their_angles():
    base = orbit_cameras([24.0, -100.0], [8.0, -20.0])
    assert torch.allclose(refine_cameras(base, torch.zeros(2, 6)), base, atol=1e-6)
    angles = camera_angles(base)
    assert angles[:, :2].flatten().tolist() == pytest.approx([24.0, 8.0, -100.0, -20.0], abs=1e-3)
    assert angles[:, 2].abs().max() < 1e-3
    params = torch.tensor([[0.1, 0.2, 0.3, 0.1, -0.1, 0.2], [-0.2, 0.1, -0.1, 0.0, 0.2, -0.1]])
    moved = refine_cameras(base, params)
    rotation = moved[:, :16].reshape(-1, 4, 4)[:, :3, :3]
    assert torch.allclose(
        rotation @ rotation.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-5
    )
    # The orbit keeps the distance to the head; only the small sideways shift adds to it.
    distance = moved[:, :16].reshape(-1, 4, 4)[:, :3, 3].norm(dim=1)
    assert torch.allclose(distance, torch.full((2,), 2.7), atol=0.02)
    # A turn about the viewing axis alone is pure roll; positive turns the picture
    # counter-clockwise (the photo's convention): the crown moves to the image's left.
    rolled = refine_cameras(base[:1], torch.tensor([[0.0, 0.0, 0.2, 0.0, 0.0, 0.0]]))
    yaw, pitch, roll = camera_angles(rolled)[0].tolist()
    assert [yaw, pitch] == pytest.approx([24.0, 8.0], abs=1e-3) and roll > 5.0
    crown = torch.tensor([[0.0, 0.3, 0.0, 1.0]])
    assert _image_x(rolled[0], crown) < _image_x(base[0], crown)


def _image_x(label: torch.Tensor, point: torch.Tensor) -> float:
    cam2world = label[:16].reshape(4, 4)
    local = torch.linalg.inv(cam2world) @ point[0]
    return float(local[0] / local[2])


def test_losses_focus_on_the_foreground():
    torch.manual_seed(0)
    target = torch.rand(1, 3, 128, 128) * 2 - 1
    mask = torch.zeros(1, 1, 128, 128)
    mask[..., 32:96, 32:96] = 1
    background_only = target + (1 - mask) * 0.5
    assert float(masked_pixel_loss(background_only, target, mask)) == 0.0
    assert float(masked_pixel_loss(target + mask * 0.5, target, mask)) == pytest.approx(0.5)
    for size in (24, 32, 64, 128, 192):  # single-scale, 4-scale and 5-scale SSIM
        t = F.interpolate(target, (size, size), mode="area")
        m = F.interpolate(mask, (size, size), mode="area")
        assert float(structural_loss(t, t, m)) == pytest.approx(0.0, abs=1e-5)
        noisy = t + 0.3 * torch.randn_like(t)
        assert float(structural_loss(noisy, t, m)) > 0.02
        assert float(structural_loss(t + (1 - m) * 0.5, t, m)) == pytest.approx(0.0, abs=1e-5)
