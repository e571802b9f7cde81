"""The bundled demo generator against its teacher family, on seeds it was not trained on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.cameras import orbit_cameras, project
from backend.geometry import GridRegion, extract_mesh
from backend.inversion.align import ffhq_quad
from backend.models import open_generator
from backend.models.presets import demo as demo_preset
from backend.sampling import seed_latent, seed_ws
from backend.teacher.family import LATENT_DIM, _template, teacher_head

HELD_OUT = (0, 1, 2)  # training used seeds 1000 and up
YAWS = tuple(range(0, 360, 45))
RES = 32


@pytest.fixture(scope="module")
def demo():
    return open_generator("demo")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.mark.parametrize("seed", HELD_OUT)
def test_demo_heads_match_the_teacher(demo, seed):
    teacher = teacher_head(seed_latent(seed, LATENT_DIM).numpy()[0], resolution=RES)
    ws = seed_ws(demo, seed, truncation_psi=1.0)
    mesh = extract_mesh(demo, ws, resolution=128, region=GridRegion(border=0.0))
    sdf, _ = teacher.field(mesh.vertices.astype(np.float64))
    head_size = float(np.ptp(teacher.vertices[np.unique(teacher.faces), 1]))
    distance = float(np.abs(sdf).mean()) / head_size
    ious, psnrs = [], []
    with torch.no_grad():
        for yaw in YAWS:
            cam = orbit_cameras(yaw, 5.0)
            ours = demo.synthesis(ws, cam, neural_rendering_resolution=RES, deterministic=True)
            ref = teacher.synthesis(torch.zeros(1, 1, 1), cam)
            m_ours = ours["image_mask"][0, 0].numpy() > 0.5
            m_ref = ref["image_mask"][0, 0].numpy() > 0.5
            ious.append(_iou(m_ours, m_ref))
            both = m_ours & m_ref
            a = ((ours["image_raw"][0].permute(1, 2, 0).numpy() + 1) / 2).clip(0, 1)[both]
            b = ((ref["image_raw"][0].permute(1, 2, 0).numpy() + 1) / 2).clip(0, 1)[both]
            psnrs.append(10 * np.log10(1 / max(np.mean((a - b) ** 2), 1e-10)))
    print(
        f"seed {seed}: surface distance {distance:.2%} of head height, silhouette IoU min "
        f"{min(ious):.3f} mean {np.mean(ious):.3f}, colour PSNR {np.mean(psnrs):.1f} dB"
    )
    assert distance < 0.01
    assert min(ious) >= 0.95
    # The issue asks 28 dB; the bundled file gets 34.6, 32.2 and 28.9 (the one before it, trained
    # 5,000 steps less and with the rendered views weighed 0.5, not 4: 33.7, 31.5 and 26.6).
    assert np.mean(psnrs) >= 28.0


def test_seeds_give_different_heads(demo):
    """Heads differ between seeds about as much as the teacher's heads do (front and back)."""
    ours, theirs = [], []
    with torch.no_grad():
        for seed in HELD_OUT:
            cams = orbit_cameras([0.0, 180.0], 5.0)
            ws = seed_ws(demo, seed, 1.0).repeat(2, 1, 1)
            ours.append(demo.synthesis(ws, cams, neural_rendering_resolution=RES)["image_raw"])
            teacher = teacher_head(seed_latent(seed, LATENT_DIM).numpy()[0], resolution=RES)
            theirs.append(teacher.synthesis(torch.zeros(1, 1, 1), cams)["image_raw"])

    def spread(images):
        return np.mean(
            [float((images[i] - images[j]).abs().mean()) for i in range(3) for j in range(i + 1, 3)]
        )

    print(
        f"mean image difference between seeds: ours {spread(ours):.3f}, "
        f"teacher {spread(theirs):.3f}"
    )
    assert spread(ours) > 0.5 * spread(theirs) > 0


def test_demo_frames_faces_where_its_teacher_puts_them(demo):
    """Photos are cropped to the generator's framing before a fit: the demo file's is the
    FFHQ quad its teacher's heads show from the front (eye centres, mouth corners)."""
    assert demo.config == demo_preset()
    lips = np.flatnonzero(_template()[2])
    for seed in (0, 1, 2):
        head = teacher_head(seed_latent(seed, LATENT_DIM).numpy()[0], resolution=16)
        mouth = head.vertices[lips]
        points = np.stack(
            [*head.eye_centres, mouth[np.argmin(mouth[:, 0])], mouth[np.argmax(mouth[:, 0])]]
        )
        xy = project(torch.from_numpy(points), orbit_cameras(0.0, 0.0)[0].double())[0].numpy()
        right, left = sorted(xy[:2], key=lambda p: p[0])  # the subject's right is image-left
        centre, half = ffhq_quad(right, left, xy[2], xy[3])
        assert centre[0] == pytest.approx(0.5, abs=0.005)
        assert centre[1] == pytest.approx(demo.config.face_quad_y, abs=0.005)
        assert half == pytest.approx(demo.config.face_quad_half, abs=0.005)
