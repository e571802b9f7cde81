"""Tracker outputs stored as named arrays (an .npz, or a folder of per-frame files): one table.

Each row of ``FORMATS`` says which keys one tracker writes and what they hold; ``from_arrays``
reads the first row whose keys are present, checking every array's shape and values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .model import EYE_L, EYE_R, JAW, NECK, ROOT, Sequence, SequenceError, check_fps, pose_array

SUPPORTED = (
    "VHAP / GaussianAvatars tracked_flame_params .npz, NeRSemble FlameTracking .npz, "
    "EMOCA/DECA codes (folder of per-frame exp.npy + pose.npy, or .npz with exp and pose), "
    "a FLAME parameter .npz with 'expr' (+ jaw_pose, neck_pose, eyes_pose, rotation, "
    "translation, fps, release), or a Live Link Face ARKit .csv"
)


@dataclass(frozen=True)
class ArrayFormat:
    name: str  # as named in messages
    source: str  # Sequence.source
    expression: str  # key of the [T, E] FLAME expression coefficients; identifies the format
    poses: tuple[tuple[str, tuple[int, ...]], ...]  # key, the joints its [T, 3 * n] columns fill
    translation: str | None  # key of the [T, 3] root translation; None: zero
    required: bool  # every key above must be present (a tracker's full output); else optional
    fps: float  # the frame rate when the file does not tell
    release: str | None  # the FLAME release when the file does not tell
    any_of: frozenset[str] = frozenset()  # keys of which one must be present too
    none_of: frozenset[str] = frozenset()  # keys that must be absent
    fps_key: str | None = None  # key of a stored frame rate
    frames_key: str | None = None  # key of the captured frame indices: every k-th -> fps / k
    release_key: str | None = None  # key of a stored release name

    def matches(self, keys: set[str]) -> bool:
        return (
            self.expression in keys
            and (not self.any_of or bool(keys & self.any_of))
            and not keys & self.none_of
        )


_FLAME_POSES = (
    ("rotation", (ROOT,)),
    ("neck_pose", (NECK,)),
    ("jaw_pose", (JAW,)),
    ("eyes_pose", (EYE_L, EYE_R)),  # left eye then right eye, FLAME joint order
)

FORMATS = (  # the first row that matches a file's keys reads it
    ArrayFormat(
        name="NeRSemble FlameTracking",
        source="NeRSemble FlameTracking npz",
        expression="expression",
        none_of=frozenset({"expr"}),
        poses=(
            ("rotation", (ROOT,)),
            ("neck", (NECK,)),
            ("jaw", (JAW,)),
            ("eyes", (EYE_L, EYE_R)),  # assumed left then right, as in VHAP
        ),
        translation="translation",
        required=True,
        fps=73.0,  # NeRSemble's cameras record at 73 fps
        frames_key="frames",  # tracking may keep every k-th captured frame
        release="flame2023",  # the NeRSemble benchmark tracks with FLAME 2023
    ),
    ArrayFormat(
        name="EMOCA/DECA codes",
        source="EMOCA codes",
        expression="exp",
        poses=(("pose", (ROOT, JAW)),),  # DECA's 6-D pose: global, jaw
        translation=None,  # DECA's camera is orthographic: no depth
        required=True,
        fps=25.0,  # DECA-family trackers are mostly run on 25 fps video (LRS3, MEAD)
        release="flame2020",
    ),
    ArrayFormat(
        name="VHAP / GaussianAvatars",
        source="VHAP npz",
        expression="expr",
        any_of=frozenset({"shape", "timestep_id"}),  # what the trackers save besides the motion
        none_of=frozenset({"fps", "release"}),  # a file that states them is the plain format
        poses=_FLAME_POSES,
        translation="translation",
        required=True,
        fps=30.0,  # VHAP extracts monocular video frames at 30 fps by default
        release="flame2023",  # VHAP and GaussianAvatars track with flame2023.pkl
    ),
    ArrayFormat(
        name="FLAME parameter npz",
        source="FLAME parameter npz",
        expression="expr",
        # Either eyes_pose or one key per eye: the first key that fills a joint wins.
        poses=(*_FLAME_POSES, ("eye_l_pose", (EYE_L,)), ("eye_r_pose", (EYE_R,))),
        translation="translation",
        required=False,
        fps=30.0,  # no stored rate: 30 fps is the most common tracker rate
        fps_key="fps",
        release=None,
        release_key="release",
    ),
)


def from_arrays(
    keys: set[str], get: Callable[[str], np.ndarray], name: str, fps: float | None
) -> Sequence:
    """Read the arrays ``get`` returns for ``keys`` (from the file called ``name``)."""
    fmt = next((f for f in FORMATS if f.matches(keys)), None)
    if fmt is None:
        raise SequenceError(
            f"{name} has none of the expected expression arrays "
            f"(found: {', '.join(sorted(keys))}).",
            f"Use {SUPPORTED}.",
        )
    arrays = _Arrays(keys, get, name, fmt.name)
    expression = arrays.get(fmt.expression, None, required=True)
    t = len(expression)
    joints: dict[int, np.ndarray] = {}
    for key, targets in fmt.poses:
        if all(j in joints for j in targets):
            continue
        values = arrays.get(key, 3 * len(targets), fmt.required)
        if values is not None:
            joints.update({j: values[:, 3 * k : 3 * k + 3] for k, j in enumerate(targets)})
    translation = arrays.get(fmt.translation, 3, fmt.required) if fmt.translation else None
    return Sequence(
        fps=fps or _stored_fps(fmt, keys, get, name) or fmt.fps,
        expression=expression,
        expression_names=(),
        pose=pose_array(t, joints),
        translation=np.zeros((t, 3), np.float32) if translation is None else translation,
        release=_stored_release(fmt, keys, get, name) or fmt.release,
        source=fmt.source,
    )


def _stored_fps(
    fmt: ArrayFormat, keys: set[str], get: Callable[[str], np.ndarray], name: str
) -> float | None:
    if fmt.fps_key in keys:
        stored = np.asarray(get(fmt.fps_key))
        if stored.size != 1 or not np.issubdtype(stored.dtype, np.number):
            raise SequenceError(
                f"{name}: '{fmt.fps_key}' must be a single number.", "Store e.g. 30."
            )
        return check_fps(stored.item(), f"{name}: '{fmt.fps_key}'")
    if fmt.frames_key in keys:
        steps = np.diff(np.asarray(get(fmt.frames_key), np.float64).ravel())
        if steps.size and np.median(steps) > 0:
            return fmt.fps / float(np.median(steps))
    return None


def _stored_release(
    fmt: ArrayFormat, keys: set[str], get: Callable[[str], np.ndarray], name: str
) -> str | None:
    if fmt.release_key not in keys:
        return None
    stored = np.asarray(get(fmt.release_key))
    if stored.ndim != 0 or stored.dtype.kind != "U":
        raise SequenceError(
            f"{name}: '{fmt.release_key}' must be a string such as 'flame2020'.",
            "Store it with np.savez(..., release='flame2020').",
        )
    return str(stored).strip().lower() or None


class _Arrays:
    """Fetches arrays, checking shape and finiteness, with messages naming the file's format."""

    def __init__(self, keys: set[str], get: Callable, name: str, fmt: str) -> None:
        self.keys, self.fetch, self.name, self.fmt = keys, get, name, fmt
        self.frames: int | None = None

    def get(self, key: str, width: int | None, required: bool) -> np.ndarray | None:
        """The [T, width] array (any width when None) as float32; None when optional and absent."""
        if key not in self.keys:
            if not required:
                return None
            raise SequenceError(
                f"{self.name} looks like a {self.fmt} file but has no '{key}' array.",
                f"Export the full {self.fmt} output; '{key}' is required.",
            )
        a = np.asarray(self.fetch(key))
        if not np.issubdtype(a.dtype, np.number):
            raise SequenceError(
                f"{self.name}: '{key}' is not numeric ({a.dtype}).", "Save numeric arrays."
            )
        wanted = f"(T, {width})" if width else "(T, E)"
        if a.ndim != 2 or (width is not None and a.shape[1] != width) or a.shape[0] == 0:
            raise SequenceError(
                f"{self.name}: '{key}' has shape {a.shape}, expected {wanted} for {self.fmt}.",
                "Check that the file holds one row per frame.",
            )
        if self.frames is None:
            self.frames = a.shape[0]
        elif a.shape[0] != self.frames:
            raise SequenceError(
                f"{self.name}: '{key}' has {a.shape[0]} frames but earlier arrays have "
                f"{self.frames}.",
                "All per-frame arrays must have the same length.",
            )
        if not np.all(np.isfinite(a)):
            raise SequenceError(
                f"{self.name}: '{key}' contains NaN or infinite values.",
                "Re-run the tracker or drop the broken frames.",
            )
        return a.astype(np.float32)
