"""The one structure every sequence is read into, in FLAME's conventions.

Per-frame expression values, axis-angle rotations of the five FLAME joints (root, neck, jaw,
eye_L, eye_R) in FLAME's model frame (metres, +y up, face toward +z, subject's left +x) and a
root translation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import PanoRigError

ROOT, NECK, JAW, EYE_L, EYE_R = range(5)  # FLAME joint order
JOINTS = 5


class SequenceError(PanoRigError):
    """A sequence file cannot be read; ``hint`` says what to do about it."""

    code = "sequence"


@dataclass(frozen=True)
class Sequence:
    """Per-frame animation values in FLAME's frame and joint order."""

    fps: float
    expression: np.ndarray  # [T, E] float32: FLAME coefficients, or weights named below
    expression_names: tuple[str, ...]  # () = FLAME PCA coefficients exp_000...; else ARKit names
    pose: np.ndarray  # [T, 5, 3] float32 axis-angle: root (global), neck, jaw, eye_L, eye_R
    translation: np.ndarray  # [T, 3] float32 metres
    release: str | None  # FLAME release the values belong to; None for ARKit / unknown
    source: str  # human-readable origin, e.g. "VHAP npz"

    def __post_init__(self) -> None:
        # Coerce here so that every reader (and the add-on) gets the same types.
        for name in ("expression", "pose", "translation"):
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name), np.float32))
        object.__setattr__(self, "fps", float(self.fps))
        object.__setattr__(self, "expression_names", tuple(self.expression_names))
        t = self.pose.shape[0] if self.pose.ndim == 3 else -1
        problems = [
            (math.isfinite(self.fps) and self.fps > 0, f"fps must be positive, got {self.fps}"),
            (t >= 1 and self.pose.shape[1:] == (JOINTS, 3), "pose must be [T, 5, 3], T >= 1"),
            (self.expression.ndim == 2 and len(self.expression) == t, "expression must be [T, E]"),
            (self.translation.shape == (t, 3), "translation must be [T, 3]"),
            (len(self.expression_names) in (0, self.expression.shape[-1]),
             "expression_names must be empty or name every expression column"),
        ]  # fmt: skip
        for ok, message in problems:
            if not ok:
                raise SequenceError(f"invalid sequence from {self.source}: {message}.")

    @property
    def frames(self) -> int:
        return int(self.pose.shape[0])


def check_fps(fps: float, what: str) -> float:
    """``fps`` as a positive float; ``what`` names where it came from in the error."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise SequenceError(f"{what} must be a positive frame rate, got {fps!r}.", "Pass e.g. 30.")
    return value


def pose_array(frames: int, joints: Mapping[int, np.ndarray]) -> np.ndarray:
    """[T, 5, 3] pose from [T, 3] axis-angle values per joint index; other joints stay at rest."""
    pose = np.zeros((frames, JOINTS, 3), np.float32)
    for joint, values in joints.items():
        pose[:, joint] = values
    return pose
