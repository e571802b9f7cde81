"""Rotations as numpy arrays: axis-angle vectors and unit quaternions (w, x, y, z), float64.

The one definition of these conversions for the backend and the add-on. Where an angle divides,
its Taylor series takes over near zero, so tiny rotations stay exact instead of becoming 0/0.
"""

from __future__ import annotations

import numpy as np

# Below this angle (radians) the series replace the closed forms; their next terms are
# under 1e-25 there, far below float64 precision.
_SMALL = 1e-6


def axis_angle_to_quaternion(axis_angle: np.ndarray) -> np.ndarray:
    """[..., 3] axis-angle (direction = axis, length = angle) -> [..., 4] unit (w, x, y, z)."""
    v = np.asarray(axis_angle, np.float64)
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    small = angle < _SMALL
    # sin(angle / 2) / angle = 1/2 - angle^2 / 48 + ...
    scale = np.where(small, 0.5 - angle**2 / 48, np.sin(angle / 2) / np.where(small, 1.0, angle))
    return np.concatenate([np.cos(angle / 2), v * scale], axis=-1)


def quaternion_to_axis_angle(quaternion: np.ndarray) -> np.ndarray:
    """[..., 4] quaternions (w, x, y, z), any length -> [..., 3] axis-angle of angle <= pi."""
    q = np.asarray(quaternion, np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., :1] < 0, -q, q)  # q and -q are one rotation; w >= 0 is the short way
    w, xyz = q[..., :1], q[..., 1:]
    n = np.linalg.norm(xyz, axis=-1, keepdims=True)  # sin(angle / 2)
    small = n < _SMALL
    # angle / sin(angle / 2) = 2 atan2(n, w) / n, which tends to 2 / w
    scale = np.where(
        small, 2.0 / np.maximum(w, _SMALL), 2 * np.arctan2(n, w) / np.where(small, 1, n)
    )
    return xyz * scale


def quaternion_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[..., 4] Hamilton product a * b: the rotation b, then a."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, np.float64), -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """[..., 4] unit quaternions a fraction ``t`` [..., 1] of the short way from q0 to q1."""
    q0, q1 = np.asarray(q0, np.float64), np.asarray(q1, np.float64)
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)  # q and -q are the same rotation: take the short way
    theta = np.arccos(np.clip(np.abs(dot), 0.0, 1.0))
    sin_theta = np.sin(theta)
    near = sin_theta < _SMALL  # (almost) equal rotations: linear blend, renormalised below
    safe = np.where(near, 1.0, sin_theta)
    w0 = np.where(near, 1 - t, np.sin((1 - t) * theta) / safe)
    w1 = np.where(near, t, np.sin(t * theta) / safe)
    q = w0 * q0 + w1 * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def euler_to_axis_angle(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Axis-angle [..., 3] of R = R_y(yaw) R_x(pitch) R_z(roll) (intrinsic y, x, z).

    In FLAME's frame (+y up, face toward +z, subject's left +x) positive yaw turns the face
    toward the subject's left, positive pitch tilts it down (nod), positive roll tips the crown
    toward the subject's right.
    """

    def about(angle: np.ndarray, axis: int) -> np.ndarray:
        v = np.zeros(np.shape(angle) + (3,))
        v[..., axis] = angle
        return axis_angle_to_quaternion(v)

    q = quaternion_product(quaternion_product(about(yaw, 1), about(pitch, 0)), about(roll, 2))
    return quaternion_to_axis_angle(q)


def hemisphere_continuous(quaternions: np.ndarray) -> np.ndarray:
    """[T, ..., 4] with each quaternion's sign chosen to agree with the one before it (axis 0).

    q and -q are the same rotation, but keyframe curves interpolate the components: a sign flip
    between neighbouring keys would swing the bone the long way round.
    """
    q = np.array(quaternions, np.float64)
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    q[1:] *= np.cumprod(np.where(dots < 0, -1.0, 1.0), axis=0)[..., None]
    return q
