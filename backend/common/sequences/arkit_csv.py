"""ARKit face captures as CSV, as Epic's Live Link Face app exports them."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from ..rotations import euler_to_axis_angle
from .model import EYE_L, EYE_R, ROOT, Sequence, SequenceError, pose_array

# Apple's ARFaceAnchor.BlendShapeLocation names in the order of Apple's documentation
# (left eye, right eye, mouth and jaw, brows/cheeks/nose, tongue).
ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)  # fmt: skip

_ARKIT_BY_LOWER = {n.lower(): n for n in ARKIT_NAMES}
# Live Link Face records at 60 fps unless set otherwise in the app: the assumed rate when the
# timecodes do not cover a whole second (assumption; not stored in the file).
LIVE_LINK_FACE_FPS = 60.0
# Live Link Face writes angles in radians. Tracking loses the face long before 2 rad (115°),
# so larger magnitudes can only be degrees (written by other tools in this layout).
_MAX_RADIANS = 2.0
_TIMECODE = re.compile(r"^(\d+):(\d\d):(\d\d)[:;.](\d+(?:\.\d+)?)$")


def looks_like_arkit_csv(head: bytes) -> bool:
    """Whether the first bytes of a file are a CSV header with ARKit columns."""
    text = head.decode("utf-8-sig", errors="replace")
    first = next(line for line in text.splitlines() if line.strip())
    cells = {c.strip().lower() for c in first.split(",")}
    return "timecode" in cells or bool(cells & _ARKIT_BY_LOWER.keys())


def read_arkit_csv(path: Path, fps: float | None) -> Sequence:
    name = path.name
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if any(cell.strip() for cell in r)]
    if not rows:
        raise SequenceError(f"{name} is empty.", "Export the take again from Live Link Face.")
    header = [h.strip().lower() for h in rows[0]]
    body = rows[1:]
    if not body:
        raise SequenceError(
            f"{name} has a header but no frames.", "Record a longer take and export it again."
        )
    columns = {h: i for i, h in enumerate(header) if h}
    if not columns.keys() & _ARKIT_BY_LOWER.keys():
        raise SequenceError(
            f"{name} has no ARKit blendshape columns.",
            "Expected a Live Link Face CSV with columns such as EyeBlinkLeft, JawOpen.",
        )

    def column(key: str) -> np.ndarray:
        """Values of one column as float64; zeros when the column is absent."""
        if key not in columns:
            return np.zeros(len(body))
        i = columns[key]
        out = np.empty(len(body))
        for r, row in enumerate(body):
            try:
                out[r] = float(row[i])
            except (IndexError, ValueError):
                cell = row[i] if i < len(row) else "<missing>"
                raise SequenceError(
                    f"{name}, line {r + 2}: column {rows[0][i].strip()} is {cell!r}, not a number.",
                    "Fix or delete that line.",
                ) from None
        if not np.all(np.isfinite(out)):
            raise SequenceError(f"{name}: column {rows[0][i].strip()} has NaN values.", "")
        return out

    expression = np.stack([column(n.lower()) for n in ARKIT_NAMES], axis=1)

    def angles(prefix: str) -> np.ndarray:
        yaw, pitch, roll = (column(f"{prefix}{a}") for a in ("yaw", "pitch", "roll"))
        if max(np.abs(yaw).max(), np.abs(pitch).max(), np.abs(roll).max()) > _MAX_RADIANS:
            yaw, pitch, roll = np.radians(yaw), np.radians(pitch), np.radians(roll)
        # Assumed sign convention: ARKit's face frame equals FLAME's (+x subject's left, +y up,
        # +z out of the face) and the angles are right-handed about its y, x and z axes.
        return euler_to_axis_angle(yaw, pitch, roll)

    # "Left" = the subject's left eye, FLAME's eye_L
    pose = pose_array(
        len(body), {ROOT: angles("head"), EYE_L: angles("lefteye"), EYE_R: angles("righteye")}
    )
    if fps is None:
        timecodes = [row[columns["timecode"]] for row in body] if "timecode" in columns else []
        fps = _rows_per_second(timecodes) or LIVE_LINK_FACE_FPS
    return Sequence(
        fps=fps,
        expression=expression,
        expression_names=ARKIT_NAMES,
        pose=pose,
        translation=np.zeros((len(body), 3), np.float32),
        release=None,
        source="ARKit CSV (Live Link Face)",
    )


def _rows_per_second(timecodes: list[str]) -> float | None:
    """Frame rate from HH:MM:SS:FF(.sub) timecodes, or None when they cannot tell.

    Counts rows per whole timecode second; only seconds fully inside the take are used
    (the first and last are partial). This gives the row rate even when the timecode runs
    at another rate than the capture (sub-frames).
    """
    seconds = []
    for tc in timecodes:
        m = _TIMECODE.match(tc.strip())
        if not m:
            return None
        h, mi, s, _ = m.groups()
        seconds.append(int(h) * 3600 + int(mi) * 60 + int(s))
    values, counts = np.unique(np.asarray(seconds), return_counts=True)
    if len(values) < 3:
        return None
    return float(np.median(counts[1:-1]))
