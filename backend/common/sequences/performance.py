"""PanoRig's built-in demo performance, made procedurally at any frame rate."""

from __future__ import annotations

import math

import numpy as np

from ..rotations import euler_to_axis_angle
from .model import EYE_L, EYE_R, JAW, NECK, Sequence, SequenceError, check_fps, pose_array


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _window(t: np.ndarray, start: float, end: float, ramp: float) -> np.ndarray:
    """1 between start and end, easing in and out over ``ramp`` seconds; 0 elsewhere."""
    return _smoothstep((t - start) / ramp) * _smoothstep((end - t) / ramp)


def demo_sequence(names: tuple[str, ...], fps: float = 30.0, seconds: float = 6.0) -> Sequence:
    """PanoRig's bundled performance: talk, blink, look around, smile in the middle.

    Joints carry the motion that every rig has (jaw, neck, eyes). Named ARKit shapes in
    ``names`` get matching weights; with ``names`` empty (FLAME PCA, no semantics) the
    expression array has no columns. Every curve is a continuous function of time sampled
    at ``fps``, so there are no jumps at any frame rate, and the result is deterministic.
    """
    fps = check_fps(fps, "the demo fps")
    if not (math.isfinite(seconds) and seconds > 0):
        raise SequenceError(f"the demo length must be positive, got {seconds}.", "Pass seconds.")
    rng = np.random.default_rng(20240607)
    n = max(1, int(round(seconds * fps)))
    t = np.arange(n) / fps

    # Talking: two phrases with a pause (and the smile) in the middle. The syllable rate wobbles
    # around 4.5 Hz; its phase is integrated analytically so it does not depend on fps.
    speaking = _window(t, 0.3, 0.42 * seconds, 0.2) + _window(t, 0.58 * seconds, seconds - 0.3, 0.2)
    w1, w2 = 2 * np.pi * 0.31, 2 * np.pi * 0.73
    phase = (
        4.5 * t - 0.8 / w1 * (np.cos(w1 * t + 1.0) - np.cos(1.0)) - 0.4 / w2 * (np.cos(w2 * t) - 1)
    )
    syllable = np.floor(phase).astype(int)
    n_syl = syllable.max() + 1
    # Per-syllable loudness and lip rounding change only while the mouth is closed
    # (phase at an integer), where the syllable shape and its slope are zero: no jumps.
    loudness = rng.uniform(0.45, 1.0, n_syl)[syllable]
    rounding = np.where(rng.random(n_syl) < 0.3, rng.uniform(0.2, 0.5, n_syl), 0.0)[syllable]
    opening = speaking * loudness * 0.5 * (1 - np.cos(2 * np.pi * phase))  # 0..1
    jaw = 0.25 * opening  # radians about +x (positive opens)

    # Blinks every 2-4 s: quick close (0.1 s), slower open (0.2 s).
    blink = np.zeros(n)
    start = rng.uniform(0.6, 1.5)
    while start + 0.3 < seconds:
        u = t - start
        closing = 0.5 * (1 - np.cos(np.pi * np.clip(u / 0.1, 0, 1)))
        reopening = 0.5 * (1 + np.cos(np.pi * np.clip((u - 0.1) / 0.2, 0, 1)))
        blink = np.maximum(blink, np.where(u < 0.1, closing, reopening) * (u >= 0))
        start += rng.uniform(2.0, 4.0)

    # Gaze: hold a target, then move to the next one over 0.2 s.
    gaze_yaw, gaze_pitch = np.zeros(n), np.zeros(n)
    when, yaw0, pitch0 = 0.5, 0.0, 0.0
    while when < seconds:
        yaw1, pitch1 = rng.uniform(-0.3, 0.3), rng.uniform(-0.15, 0.1)
        s = _smoothstep((t - when) / 0.2)
        gaze_yaw += (yaw1 - yaw0) * s
        gaze_pitch += (pitch1 - pitch0) * s
        yaw0, pitch0, when = yaw1, pitch1, when + rng.uniform(0.8, 1.6)
    eyes = euler_to_axis_angle(gaze_yaw, gaze_pitch, np.zeros(n))

    # Head: slow turns left/right, small nods and tilts.
    neck = euler_to_axis_angle(
        0.2 * np.sin(2 * np.pi * 0.2 * t),
        0.06 * np.sin(2 * np.pi * 0.45 * t + 0.5) - 0.03,
        0.03 * np.sin(2 * np.pi * 0.15 * t),
    )
    jaw_pose = np.stack([jaw, 0 * t, 0 * t], axis=1)
    pose = pose_array(n, {NECK: neck, JAW: jaw_pose, EYE_L: eyes, EYE_R: eyes})

    smile = 0.7 * _window(t, 0.38 * seconds, 0.62 * seconds, 0.5)
    # The eye joints already rotate the eyes, so eyeLook* shapes stay at zero (they would turn
    # the eyeballs a second time). jawOpen mirrors the jaw rotation for shape-only rigs.
    weights = {
        "jawOpen": 0.8 * opening,
        "mouthFunnel": rounding * opening,
        "mouthPucker": 0.5 * rounding * opening,
        "mouthLowerDownLeft": 0.3 * opening,
        "mouthLowerDownRight": 0.3 * opening,
        "eyeBlinkLeft": blink,
        "eyeBlinkRight": blink,
        "mouthSmileLeft": smile,
        "mouthSmileRight": smile,
        "cheekSquintLeft": 0.4 * smile,
        "cheekSquintRight": 0.4 * smile,
    }
    expression = np.zeros((n, len(names)), np.float32)
    for k, name in enumerate(names):
        if name in weights:
            expression[:, k] = weights[name]
    return Sequence(
        fps=fps,
        expression=expression,
        expression_names=tuple(names),
        pose=pose,
        translation=np.zeros((n, 3), np.float32),
        release=None,
        source="PanoRig demo",
    )
