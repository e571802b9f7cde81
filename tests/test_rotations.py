"""backend.common.rotations against scipy, including the near-zero and half-turn angles."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from backend.common.rotations import (
    axis_angle_to_quaternion,
    euler_to_axis_angle,
    hemisphere_continuous,
    quaternion_product,
    quaternion_to_axis_angle,
    slerp,
)

ANGLES = (0.0, 1e-9, 1e-7, 1e-3, 1.0, np.pi - 1e-6, np.pi)


def _axis_angles() -> np.ndarray:
    """[A, 8, 3]: every angle of ANGLES about 8 random axes."""
    axes = np.random.default_rng(0).normal(size=(8, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    return np.asarray(ANGLES)[:, None, None] * axes


def _wxyz(rotation: Rotation) -> np.ndarray:
    return rotation.as_quat()[..., [3, 0, 1, 2]]


def _same_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-element angle (radians) between rotations given as axis-angle."""
    return (
        Rotation.from_rotvec(a.reshape(-1, 3)).inv() * Rotation.from_rotvec(b.reshape(-1, 3))
    ).magnitude()


def test_axis_angle_to_quaternion_matches_scipy_at_every_angle():
    v = _axis_angles()
    q = axis_angle_to_quaternion(v)
    assert q.shape == (len(ANGLES), 8, 4) and q.dtype == np.float64
    expected = _wxyz(Rotation.from_rotvec(v.reshape(-1, 3))).reshape(q.shape)
    np.testing.assert_allclose(q, expected, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-15)
    # Tiny angles keep their full relative precision: the vector part is v / 2.
    tiny = v[1:3]
    np.testing.assert_allclose(q[1:3, :, 1:], tiny / 2, rtol=1e-12)
    np.testing.assert_array_equal(q[0], np.tile([1.0, 0, 0, 0], (8, 1)))


def test_quaternion_to_axis_angle_inverts_at_every_angle():
    v = _axis_angles()
    q = axis_angle_to_quaternion(v)
    back = quaternion_to_axis_angle(q)
    below_pi = np.asarray(ANGLES) < np.pi
    # Below a half turn the axis-angle vector is unique, down to 1e-9 rad.
    np.testing.assert_allclose(back[below_pi], v[below_pi], rtol=1e-9, atol=1e-300)
    expected = Rotation.from_quat(q.reshape(-1, 4)[:, [1, 2, 3, 0]]).as_rotvec()
    np.testing.assert_allclose(
        back[below_pi].reshape(-1, 3), expected[: below_pi.sum() * 8], rtol=1e-9
    )
    # At pi, v and -v are the same rotation; either is right.
    assert _same_rotation(back[~below_pi], v[~below_pi]).max() < 1e-12
    np.testing.assert_allclose(np.linalg.norm(back[~below_pi], axis=-1), np.pi, rtol=1e-12)


def test_quaternion_to_axis_angle_takes_any_scale_and_sign():
    rotations = Rotation.random(20, random_state=1)
    q = _wxyz(rotations) * np.random.default_rng(2).choice([-3.0, 0.5], size=(20, 1))
    v = quaternion_to_axis_angle(q)
    assert np.all(np.linalg.norm(v, axis=-1) <= np.pi)
    assert _same_rotation(v, rotations.as_rotvec()).max() < 1e-12


def test_quaternion_product_composes_like_scipy():
    a, b = Rotation.random(10, random_state=3), Rotation.random(10, random_state=4)
    product = quaternion_product(_wxyz(a), _wxyz(b))
    got = Rotation.from_quat(product[:, [1, 2, 3, 0]])
    assert ((a * b).inv() * got).magnitude().max() < 1e-12


@pytest.mark.parametrize("gap", [0.0, 1e-9, 1e-7, 0.5, 3.0])
def test_slerp_matches_scipy(gap):
    start = Rotation.random(random_state=5)
    end = Rotation.from_rotvec(gap * np.array([0.6, 0.0, 0.8])) * start
    t = np.linspace(0, 1, 11)[:, None]
    q0 = np.tile(_wxyz(start), (11, 1))
    q1 = -np.tile(_wxyz(end), (11, 1))  # the other sign of the same rotation: still the short way
    got = Rotation.from_quat(slerp(q0, q1, t)[:, [1, 2, 3, 0]])
    expected = Slerp([0, 1], Rotation.concatenate([start, end]))(t[:, 0])
    assert (expected.inv() * got).magnitude().max() < 1e-9


def test_euler_to_axis_angle_is_intrinsic_yxz():
    rng = np.random.default_rng(6)
    yaw, pitch, roll = rng.uniform(-1.5, 1.5, (3, 30))
    got = euler_to_axis_angle(yaw, pitch, roll)
    expected = Rotation.from_euler("YXZ", np.stack([yaw, pitch, roll], 1)).as_rotvec()
    np.testing.assert_allclose(got, expected, atol=1e-12)
    # Positive yaw turns the face (+z) toward the subject's left (+x).
    face = Rotation.from_rotvec(euler_to_axis_angle(np.array(0.3), np.array(0.0), np.array(0.0)))
    np.testing.assert_allclose(face.apply([0, 0, 1]), [np.sin(0.3), 0, np.cos(0.3)], atol=1e-12)


def test_hemisphere_continuous_removes_sign_flips_only():
    angle = np.linspace(0, 6 * np.pi, 200)  # three full turns: w changes sign along the way
    q = axis_angle_to_quaternion(angle[:, None] * np.array([0.0, 1.0, 0.0]))
    flipped = q * np.random.default_rng(7).choice([-1.0, 1.0], size=(200, 1))
    smooth = hemisphere_continuous(flipped)
    assert np.all(np.sum(smooth[1:] * smooth[:-1], axis=-1) > 0)
    same_rotations = np.abs(np.sum(smooth * q, axis=-1))
    np.testing.assert_allclose(same_rotations, 1.0, atol=1e-12)
    assert np.array_equal(smooth[0], flipped[0])
    # Several channels at once: each is made continuous along the first axis.
    both = hemisphere_continuous(np.stack([flipped, -flipped], axis=1))
    np.testing.assert_allclose(both[:, 0], smooth, atol=1e-15)
    np.testing.assert_allclose(both[:, 1], -smooth, atol=1e-15)
