"""Blender-free preparation of rig data and animation channels for the Blender builders.

Bones get local frames equal to FLAME's joint frames (x = subject's left, y = up, z = forward),
so FLAME axis-angle values become bone rotations with no conversion; in Blender's frame those
axes are +X, +Z and -Y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .decode import generator_to_blender
from .sequences import Sequence, resample

BONE_Y = (0.0, 0.0, 1.0)  # FLAME +y in Blender coordinates: the bone's length direction
BONE_Z = (0.0, -1.0, 0.0)  # FLAME +z in Blender coordinates: the bone's Z axis (roll)

# (R - I)[i][j] of a rotation as a function of its unit quaternion (w, x, y, z).
_RMI = (
    ("-2*(y*y+z*z)", "2*(x*y-w*z)", "2*(x*z+w*y)"),
    ("2*(x*y+w*z)", "-2*(x*x+z*z)", "2*(y*z-w*x)"),
    ("2*(x*z-w*y)", "2*(y*z+w*x)", "-2*(x*x+y*y)"),
)


@dataclass(frozen=True)
class RigData:
    joints: np.ndarray  # [J, 3] Blender frame
    parents: tuple[int, ...]
    joint_names: tuple[str, ...]
    weights: np.ndarray  # [V, J]
    expressions: np.ndarray  # [E, V, 3] Blender frame
    expression_names: tuple[str, ...]
    correctives: np.ndarray  # [P, V, 3] Blender frame
    corrective_names: tuple[str, ...]  # pose_<joint>_<row><col>
    corrective_drivers: tuple[tuple[str, str], ...]  # (bone, driver expression in w, x, y, z)
    slider_range: tuple[float, float]
    model_name: str
    release: str


def rig_from_result(arrays: dict[str, np.ndarray], data: dict) -> RigData:
    joint_names = tuple(data["joint_names"])
    parents = tuple(int(p) for p in arrays["parents"])
    expression_names = tuple(data["expression_names"])
    correctives = arrays["pose_correctives"]
    names, drivers = [], []
    for k in range(correctives.shape[0]):
        joint = joint_names[1 + k // 9]  # FLAME order: 9 entries per non-root joint
        i, j = divmod(k % 9, 3)
        names.append(f"pose_{joint}_{i}{j}")
        drivers.append((joint, _RMI[i][j]))
    flame_like = not expression_names or expression_names[0].startswith("exp_")
    return RigData(
        joints=generator_to_blender(arrays["joints"]),
        parents=parents,
        joint_names=joint_names,
        weights=np.asarray(arrays["weights"], np.float32),
        expressions=generator_to_blender(arrays["expressions"]),
        expression_names=expression_names,
        correctives=generator_to_blender(correctives),
        corrective_names=tuple(names),
        corrective_drivers=tuple(drivers),
        # FLAME's PCA coefficients reach several units in real data; ARKit weights are 0..1.
        slider_range=(-5.0, 5.0) if flame_like else (-1.0, 2.0),
        model_name=str(data.get("model_name", "")),
        release=str(data.get("release", "")),
    )


def axis_angle_to_quaternion(axis_angle: np.ndarray) -> np.ndarray:
    """[..., 3] -> [..., 4] (w, x, y, z), continuous in sign along the first axis."""
    angle = np.linalg.norm(axis_angle, axis=-1, keepdims=True)
    axis = axis_angle / np.where(angle > 1e-12, angle, 1.0)
    q = np.concatenate([np.cos(angle / 2), axis * np.sin(angle / 2)], axis=-1)
    if q.ndim >= 2:  # keep neighbouring keys on the same hemisphere so curves do not flip
        dots = np.sum(q[1:] * q[:-1], axis=-1)
        flips = np.cumprod(np.where(dots < 0, -1.0, 1.0), axis=0)
        q[1:] *= flips[..., None]
    return q.astype(np.float32)


@dataclass(frozen=True)
class Channels:
    frames: np.ndarray  # [T] scene frame numbers
    bones: dict[str, np.ndarray]  # bone -> [T, 4] quaternions (w, x, y, z)
    shapes: dict[str, np.ndarray]  # shape key -> [T] values
    skipped: tuple[str, ...]  # what could not be applied, for the user


class SequenceMismatchError(ValueError):
    """The sequence was made for another model release; applying it would be wrong."""


def channels_for(
    seq: Sequence,
    joint_names: tuple[str, ...],
    expression_names: tuple[str, ...],
    release: str,
    scene_fps: float,
    start_frame: int = 1,
    corrective_names: tuple[str, ...] = (),
) -> Channels:
    """Resample ``seq`` to the scene's frame rate and map it onto the rig's bones and keys.

    ``corrective_names`` (pose_<joint>_<ij>) are baked: keyed from the bone rotations instead
    of being driven live.
    """
    flame_rig = release.startswith("flame")
    if seq.release and flame_rig and seq.release != release:
        raise SequenceMismatchError(
            f"this sequence was tracked with {seq.release} but the head is bound to "
            f"{release}; its expressions would be wrong. Bind the head to the FLAME release "
            "the tracker used."
        )
    if abs(seq.fps - scene_fps) > 1e-6:
        seq = resample(seq, scene_fps)
    skipped = []
    bones = {}
    for k, name in enumerate(joint_names[: seq.pose.shape[1]]):
        if np.any(seq.pose[:, k]):
            bones[name] = axis_angle_to_quaternion(seq.pose[:, k])
    shapes = {}
    if seq.expression_names:
        available = set(expression_names)
        for k, name in enumerate(seq.expression_names):
            if name in available:
                shapes[name] = seq.expression[:, k].astype(np.float32)
            elif np.any(seq.expression[:, k]):
                skipped.append(name)
    elif seq.expression.shape[1]:
        if not flame_rig:
            skipped.append("FLAME expression coefficients (the open template has ARKit shapes)")
        else:
            count = min(seq.expression.shape[1], len(expression_names))
            for k in range(count):
                shapes[expression_names[k]] = seq.expression[:, k].astype(np.float32)
    for name in corrective_names:
        head, entry = name.rsplit("_", 1)
        joint, i, j = head[len("pose_") :], int(entry[0]), int(entry[1])
        if joint in bones:
            shapes[name] = rotation_minus_identity(bones[joint])[:, i, j]
    frames = start_frame + np.arange(seq.frames, dtype=np.float32)
    return Channels(frames, bones, shapes, tuple(skipped))


def rotation_minus_identity(q: np.ndarray) -> np.ndarray:
    """[T, 4] unit quaternions (w, x, y, z) -> [T, 3, 3] R - I (what the drivers compute)."""
    w, x, y, z = (q[:, k].astype(np.float64) for k in range(4))
    m = np.empty((len(q), 3, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = (
        -2 * (y * y + z * z),
        2 * (x * y - w * z),
        2 * (x * z + w * y),
    )
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = (
        2 * (x * y + w * z),
        -2 * (x * x + z * z),
        2 * (y * z - w * x),
    )
    m[:, 2, 0], m[:, 2, 1], m[:, 2, 2] = (
        2 * (x * z - w * y),
        2 * (y * z + w * x),
        -2 * (x * x + y * y),
    )
    return m.astype(np.float32)
