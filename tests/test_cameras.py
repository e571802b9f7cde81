"""Camera labels and the generator's world frame."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from backend.cameras import FOCAL, conditioning_camera, orbit_cameras, sampler_cameras
from backend.models.rays import camera_rays


def test_reference_script_cameras_are_reproduced(shared_dir):
    """The fixture's three cameras were made with PanoHead's LookAtPoseSampler."""
    c = np.load(shared_dir / "fixtures" / "panohead_tiny" / "inputs.npz")["c"]
    ours = torch.cat(
        [
            sampler_cameras(math.pi / 2 - 0.25, math.pi / 2 - 0.12, target=(0, 0, 0.2)),
            sampler_cameras(math.pi - 0.08, math.pi / 2 + 0.06),
            sampler_cameras(
                -math.pi / 2 - 0.2, math.pi / 2 - 0.25, target=(0, 0.04, 0), focal=4.4651747
            ),
        ]
    )
    assert np.abs(ours.numpy() - c).max() < 1e-6


@pytest.mark.parametrize(
    ("yaw", "position"),
    [(0.0, (0, 0, 2.7)), (90.0, (2.7, 0, 0)), (180.0, (0, 0, -2.7)), (-90.0, (-2.7, 0, 0))],
)
def test_yaw_places_the_camera_around_the_head(yaw, position):
    c = orbit_cameras(yaw, 0.0)
    cam2world = c[0, :16].reshape(4, 4)
    assert torch.allclose(cam2world[:3, 3], torch.tensor(position, dtype=torch.float32), atol=1e-5)
    # The camera looks at the origin, with image-down = world -y (no roll).
    forward = cam2world[:3, 2]
    assert torch.allclose(forward, -cam2world[:3, 3] / 2.7, atol=1e-6)
    assert torch.allclose(cam2world[:3, 1], torch.tensor([0.0, -1.0, 0.0]), atol=1e-6)


def test_frontal_camera_sees_subjects_left_on_image_right():
    """Subject's left is +x: in the frontal view, world +x projects to the right half."""
    c = orbit_cameras(0.0, 0.0)
    _, directions = camera_rays(c, 8)
    directions = directions.reshape(8, 8, 3)
    assert directions[4, 7, 0] > 0 > directions[4, 0, 0]  # column grows toward +x
    assert directions[0, 4, 1] > 0 > directions[7, 4, 1]  # row 0 is the top (+y)


def test_pitch_raises_the_camera():
    c = orbit_cameras(0.0, 30.0)
    origin = c[0, :16].reshape(4, 4)[:3, 3]
    assert math.isclose(origin[1].item(), 2.7 * math.sin(math.radians(30)), abs_tol=1e-5)


def test_conditioning_camera_is_frontal_with_training_focal():
    c = conditioning_camera(2)
    assert c.shape == (2, 25)
    assert torch.allclose(c, orbit_cameras([0.0, 0.0], 0.0))
    assert c[0, 16].item() == pytest.approx(FOCAL)
