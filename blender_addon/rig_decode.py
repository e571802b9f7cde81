"""Blender-free preparation of rig data and animation channels for the Blender builders.

Bones get local frames equal to FLAME's joint frames (x = subject's left, y = up, z = forward),
so FLAME axis-angle values become bone rotations with no conversion; in Blender's frame those
axes are +X, +Z and -Y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .decode import generator_to_blender
from .shared import correctives, errors, rig_arrays, rotations, sequences

BONE_Y = (0.0, 0.0, 1.0)  # FLAME +y in Blender coordinates: the bone's length direction
BONE_Z = (0.0, -1.0, 0.0)  # FLAME +z in Blender coordinates: the bone's Z axis (roll)


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
    """Check a 'bind' reply against the rig layout and lay it out for Blender."""
    rig = rig_arrays.from_reply(data, arrays)
    joint_names, expression_names = rig["joint_names"], rig["expression_names"]
    entries = correctives.for_joints(joint_names) if len(rig["pose_correctives"]) else ()
    flame_like = not expression_names or expression_names[0].startswith("exp_")
    return RigData(
        joints=generator_to_blender(rig["joints"]),
        parents=tuple(rig["parents"].tolist()),
        joint_names=joint_names,
        weights=rig["weights"],
        expressions=generator_to_blender(rig["expressions"]),
        expression_names=expression_names,
        correctives=generator_to_blender(rig["pose_correctives"]),
        corrective_names=tuple(c.name for c in entries),
        corrective_drivers=tuple(
            (c.joint, correctives.driver_expression(c.polynomial)) for c in entries
        ),
        # FLAME's PCA coefficients reach several units in real data; ARKit weights are 0..1.
        slider_range=(-5.0, 5.0) if flame_like else (-1.0, 2.0),
        model_name=rig["model_name"],
        release=rig["release"],
    )


@dataclass(frozen=True)
class Channels:
    frames: np.ndarray  # [T] scene frame numbers
    bones: dict[str, np.ndarray]  # bone -> [T, 4] quaternions (w, x, y, z)
    shapes: dict[str, np.ndarray]  # shape key -> [T] values
    skipped: tuple[str, ...]  # what could not be applied, for the user


class SequenceMismatchError(errors.PanoRigError):
    """The sequence was made for another model release; applying it would be wrong."""

    code = "sequence_mismatch"


def channels_for(
    seq: sequences.Sequence,
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
            f"{release}; its expressions would be wrong.",
            "Bind the head to the FLAME release the tracker used.",
        )
    if abs(seq.fps - scene_fps) > 1e-6:
        seq = sequences.resample(seq, scene_fps)
    skipped = []
    bones = {}
    for k, name in enumerate(joint_names[: seq.pose.shape[1]]):
        if np.any(seq.pose[:, k]):
            q = rotations.axis_angle_to_quaternion(seq.pose[:, k])
            bones[name] = rotations.hemisphere_continuous(q).astype(np.float32)
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
        entry = correctives.parse(name)
        if entry is not None and entry.joint in bones:
            values = correctives.evaluate(entry.polynomial, bones[entry.joint])
            shapes[name] = values.astype(np.float32)
    frames = start_frame + np.arange(seq.frames, dtype=np.float32)
    return Channels(frames, bones, shapes, tuple(skipped))
