"""A sequence at another frame rate."""

from __future__ import annotations

import numpy as np

from ..rotations import axis_angle_to_quaternion, quaternion_to_axis_angle, slerp
from .model import Sequence, check_fps


def resample(seq: Sequence, fps: float) -> Sequence:
    """The same performance at another frame rate (e.g. the Blender scene's).

    Expressions and translation are interpolated linearly, joint rotations by quaternion
    slerp. The first and last frames are kept exactly, so the clip may be stretched by under
    half a frame in total to fit a whole number of frames.
    """
    fps = check_fps(fps, "the target fps")
    t = seq.frames
    duration = (t - 1) / seq.fps
    n = int(round(duration * fps)) + 1
    src = np.linspace(0.0, t - 1, n)  # position of each new frame on the old frame axis
    i0 = np.minimum(np.floor(src).astype(int), max(t - 2, 0))
    i1 = np.minimum(i0 + 1, t - 1)
    a = (src - i0)[:, None]

    def lerp(x: np.ndarray) -> np.ndarray:
        return x[i0] * (1 - a) + x[i1] * a

    q = axis_angle_to_quaternion(seq.pose)
    pose = quaternion_to_axis_angle(slerp(q[i0], q[i1], a[:, :, None]))
    return Sequence(
        fps=fps,
        expression=lerp(seq.expression.astype(np.float64)),
        expression_names=seq.expression_names,
        pose=pose,
        translation=lerp(seq.translation.astype(np.float64)),
        release=seq.release,
        source=seq.source,
    )
