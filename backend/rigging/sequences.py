"""Animation sequences for a rigged head: read tracker output, resample, and a built-in demo.

Everything is converted to one structure in FLAME's conventions: per-frame expression values,
axis-angle rotations of the five FLAME joints (root, neck, jaw, eye_L, eye_R) in FLAME's model
frame (metres, +y up, face toward +z, subject's left +x) and a root translation.

Only numpy and the standard library are used: the Blender add-on ships this file as is.
"""

from __future__ import annotations

import csv
import math
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT, NECK, JAW, EYE_L, EYE_R = range(5)  # FLAME joint order
JOINTS = 5

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

SUPPORTED = (
    "VHAP / GaussianAvatars tracked_flame_params .npz, NeRSemble FlameTracking .npz, "
    "EMOCA/DECA codes (folder of per-frame exp.npy + pose.npy, or .npz with exp and pose), "
    "a FLAME parameter .npz with 'expr' (+ jaw_pose, neck_pose, eyes_pose, rotation, "
    "translation, fps, release), or a Live Link Face ARKit .csv"
)


class SequenceError(ValueError):
    """A sequence file cannot be read; ``hint`` says what to do about it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(f"{message} {hint}".strip())
        self.message = message
        self.hint = hint


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


# --------------------------------------------------------------------------------------------
# Rotations (quaternions are (w, x, y, z), float64)


def _rotvec_to_quat(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    half = angle / 2
    # sin(half) / angle, with its Taylor series near 0 so tiny rotations stay exact.
    small = angle < 1e-6
    scale = np.where(small, 0.5 - angle**2 / 48, np.sin(half) / np.where(small, 1.0, angle))
    return np.concatenate([np.cos(half), v * scale], axis=-1)


def _quat_to_rotvec(q: np.ndarray) -> np.ndarray:
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., :1] < 0, -q, q)  # w >= 0 gives the shortest rotation, angle <= pi
    w, xyz = q[..., :1], q[..., 1:]
    n = np.linalg.norm(xyz, axis=-1, keepdims=True)
    small = n < 1e-6
    scale = np.where(
        small, 2.0 / np.maximum(w, 1e-12), 2 * np.arctan2(n, w) / np.where(small, 1, n)
    )
    return xyz * scale


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def _axis_quat(angle: np.ndarray, axis: int) -> np.ndarray:
    v = np.zeros(np.shape(angle) + (3,))
    v[..., axis] = angle
    return _rotvec_to_quat(v)


def euler_to_rotvec(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Axis-angle [..., 3] of R = R_y(yaw) R_x(pitch) R_z(roll) in FLAME's frame.

    Right-handed: positive yaw turns the face toward the subject's left (+x), positive pitch
    tilts it down (nod), positive roll tips the crown toward the subject's right.
    """
    q = _quat_mul(_quat_mul(_axis_quat(yaw, 1), _axis_quat(pitch, 0)), _axis_quat(roll, 2))
    return _quat_to_rotvec(q)


def _slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray) -> np.ndarray:
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)  # q and -q are the same rotation: take the short way
    dot = np.clip(np.abs(dot), 0.0, 1.0)
    theta = np.arccos(dot)
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-6  # (almost) equal rotations: linear blend, renormalised below
    safe = np.where(near, 1.0, sin_theta)
    w0 = np.where(near, 1 - t, np.sin((1 - t) * theta) / safe)
    w1 = np.where(near, t, np.sin(t * theta) / safe)
    q = w0 * q0 + w1 * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


# --------------------------------------------------------------------------------------------
# Loading


def load_sequence(path: str | os.PathLike, fps: float | None = None) -> Sequence:
    """Read a tracked or captured performance; the format is recognised from the content.

    ``fps`` overrides the frame rate stored in or assumed for the file.
    """
    path = Path(path)
    if fps is not None:
        fps = _check_fps(fps, "the fps argument")
    if not path.exists():
        raise SequenceError(f"sequence file not found: {path}.", "Check the path.")
    if path.is_dir():
        keys, get = _folder_arrays(path)
        return _from_arrays(keys, get, path, fps)
    with path.open("rb") as f:
        head = f.read(4096)
    if not head.strip():
        raise SequenceError(
            f"{path.name} is empty.", "Export the sequence again; the file has no data."
        )
    if head.startswith(b"PK\x03\x04"):  # .npz files are zip archives
        return _load_npz(path, fps)
    if head.startswith(b"\x93NUMPY") and _is_emoca_frame(path.parent):
        # File browsers pick files, not folders: one EMOCA code file stands for its whole take.
        keys, get = _folder_arrays(path.parent.parent)
        return _from_arrays(keys, get, path.parent.parent, fps)
    if _looks_like_arkit_csv(head):
        return _load_arkit_csv(path, fps)
    raise SequenceError(f"{path.name} is not a sequence format PanoRig reads.", f"Use {SUPPORTED}.")


def _check_fps(fps: float, what: str) -> float:
    try:
        value = float(fps)
    except (TypeError, ValueError):
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise SequenceError(f"{what} must be a positive frame rate, got {fps!r}.", "Pass e.g. 30.")
    return value


def _load_npz(path: Path, fps: float | None) -> Sequence:
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise SequenceError(f"{path.name} is not a readable .npz ({e}).", "Export it again.") from e
    with npz:
        return _from_arrays(set(npz.files), lambda key: _read(npz, key, path), path, fps)


def _read(npz: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    try:
        return np.asarray(npz[key])
    except ValueError as e:  # pickled object arrays are refused: they could run code
        raise SequenceError(
            f"{path.name}: '{key}' holds pickled Python objects, which PanoRig does not load.",
            "Save it with plain numeric arrays (np.savez with numpy arrays).",
        ) from e


def _natural_key(name: str) -> list:
    # "frame_2" sorts before "frame_10" even without zero padding
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _folder_arrays(folder: Path) -> tuple[set[str], Callable[[str], np.ndarray]]:
    """Per-frame folders or files -> (keys, getter of the arrays stacked over frames)."""
    entries = sorted(folder.iterdir(), key=lambda p: _natural_key(p.name))
    frame_dirs = [p for p in entries if p.is_dir() and (p / "exp.npy").exists()]
    frame_npz = [p for p in entries if p.is_file() and p.suffix == ".npz"]
    if frame_dirs:  # EMOCA --save_codes: one folder per frame with exp.npy, pose.npy, ...
        missing = [p.name for p in frame_dirs if not (p / "pose.npy").exists()]
        if missing:
            raise SequenceError(
                f"EMOCA frame folder {missing[0]} in {folder.name} has exp.npy but no pose.npy.",
                "Export the codes again with pose (EMOCA --save_codes writes both).",
            )
        return {"exp", "pose"}, lambda key: _stack(
            [_load_npy(p / f"{key}.npy") for p in frame_dirs], key, folder
        )
    if _is_emoca_frame(folder):  # a single frame
        return {"exp", "pose"}, lambda key: _load_npy(folder / f"{key}.npy").reshape(1, -1)
    if frame_npz:  # e.g. VHAP's flame_param/00000.npz export, one file per frame
        files = []
        for p in frame_npz:
            try:
                with np.load(p, allow_pickle=False) as npz:
                    files.append(dict(npz))
            except (OSError, ValueError, zipfile.BadZipFile) as e:
                raise SequenceError(
                    f"{p.name} in {folder.name} is not a readable .npz ({e}).",
                    "Remove or re-export that frame.",
                ) from e

        def get(key: str) -> np.ndarray:
            if np.ndim(files[0][key]) == 0:  # scalars such as fps are per clip, not per frame
                return np.asarray(files[0][key])
            return _stack([f.get(key) for f in files], key, folder)

        return set(files[0]), get
    raise SequenceError(
        f"{folder.name} has no per-frame sequence data.",
        "Point to a folder of EMOCA frame folders (exp.npy + pose.npy) or per-frame .npz files.",
    )


def _is_emoca_frame(folder: Path) -> bool:
    return (folder / "exp.npy").is_file() and (folder / "pose.npy").is_file()


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise SequenceError(f"{path} is not a readable .npy ({e}).", "Export it again.") from e


def _stack(arrays: list, key: str, folder: Path) -> np.ndarray:
    if any(a is None for a in arrays):
        raise SequenceError(
            f"some frames in {folder.name} lack '{key}'.", "All frames need the same keys."
        )
    # per-frame exports keep a leading batch dimension of 1
    arrays = [a[0] if a.ndim >= 1 and a.shape[0] == 1 else a for a in map(np.asarray, arrays)]
    if len({a.shape for a in arrays}) > 1:
        raise SequenceError(
            f"'{key}' changes shape between frames in {folder.name}.",
            "All frames must come from the same export.",
        )
    return np.stack(arrays)


def _from_arrays(
    keys: set[str], get: Callable[[str], np.ndarray], path: Path, fps: float | None
) -> Sequence:
    """Choose the reader from the keys present."""
    name = path.name
    if "expression" in keys and "expr" not in keys:
        return _read_nersemble(keys, get, name, fps)
    if "exp" in keys:
        return _read_emoca(keys, get, name, fps)
    if "expr" in keys:
        tracked = "shape" in keys or "timestep_id" in keys
        if tracked and not keys & {"fps", "release"}:
            return _read_vhap(keys, get, name, fps)
        return _read_plain(keys, get, name, fps)
    raise SequenceError(
        f"{name} has none of the expected expression arrays (found: {', '.join(sorted(keys))}).",
        f"Use {SUPPORTED}.",
    )


class _Checker:
    """Fetches arrays, checking shape and finiteness, with messages naming the file's format."""

    def __init__(self, keys: set[str], get: Callable, name: str, fmt: str) -> None:
        self.keys, self.get, self.name, self.fmt = keys, get, name, fmt
        self.frames: int | None = None

    def require(self, key: str, width: int | None, hint: str = "") -> np.ndarray:
        if key not in self.keys:
            raise SequenceError(
                f"{self.name} looks like a {self.fmt} file but has no '{key}' array.",
                hint or f"Export the full {self.fmt} output; '{key}' is required.",
            )
        return self.array(key, width)

    def optional(self, key: str, width: int) -> np.ndarray | None:
        return self.array(key, width) if key in self.keys else None

    def array(self, key: str, width: int | None) -> np.ndarray:
        a = np.asarray(self.get(key))
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


_JOINT_INDEX = {"root": ROOT, "neck": NECK, "jaw": JAW, "eye_l": EYE_L, "eye_r": EYE_R}


def _pose(t: int, **joints: np.ndarray | None) -> np.ndarray:
    """[T, 5, 3] pose from per-joint [T, 3] arrays; joints not given (or None) stay at rest."""
    pose = np.zeros((t, JOINTS, 3), np.float32)
    for joint, values in joints.items():
        if values is not None:
            pose[:, _JOINT_INDEX[joint]] = values
    return pose


def _read_vhap(keys: set[str], get: Callable, name: str, fps: float | None) -> Sequence:
    c = _Checker(keys, get, name, "VHAP / GaussianAvatars")
    expr = c.require("expr", None)
    eyes = c.require("eyes_pose", 6)  # left eye then right eye, FLAME joint order
    pose = _pose(
        len(expr),
        root=c.require("rotation", 3),
        neck=c.require("neck_pose", 3),
        jaw=c.require("jaw_pose", 3),
        eye_l=eyes[:, :3],
        eye_r=eyes[:, 3:],
    )
    return Sequence(
        fps=fps or 30.0,  # VHAP extracts monocular video frames at 30 fps by default
        expression=expr,
        expression_names=(),
        pose=pose,
        translation=c.require("translation", 3),
        release="flame2023",  # VHAP and GaussianAvatars track with flame2023.pkl
        source="VHAP npz",
    )


# NeRSemble's cameras record at 73 fps; `frames` holds the original frame indices.
NERSEMBLE_CAPTURE_FPS = 73.0


def _read_nersemble(keys: set[str], get: Callable, name: str, fps: float | None) -> Sequence:
    c = _Checker(keys, get, name, "NeRSemble FlameTracking")
    expr = c.require("expression", None)
    eyes = c.require("eyes", 6)  # assumed left then right, as in VHAP
    pose = _pose(
        len(expr),
        root=c.require("rotation", 3),
        neck=c.require("neck", 3),
        jaw=c.require("jaw", 3),
        eye_l=eyes[:, :3],
        eye_r=eyes[:, 3:],
    )
    if fps is None:
        fps = NERSEMBLE_CAPTURE_FPS
        if "frames" in keys:  # tracking may keep every k-th captured frame
            steps = np.diff(np.asarray(get("frames"), np.float64).ravel())
            if steps.size and np.median(steps) > 0:
                fps = NERSEMBLE_CAPTURE_FPS / float(np.median(steps))
    return Sequence(
        fps=fps,
        expression=expr,
        expression_names=(),
        pose=pose,
        translation=c.require("translation", 3),
        release="flame2023",  # the NeRSemble benchmark tracks with FLAME 2023
        source="NeRSemble FlameTracking npz",
    )


def _read_emoca(keys: set[str], get: Callable, name: str, fps: float | None) -> Sequence:
    c = _Checker(keys, get, name, "EMOCA/DECA codes")
    expr = c.require("exp", None)
    pose6 = c.require("pose", 6, "EMOCA/DECA codes need 'pose' (global 3 + jaw 3) per frame.")
    t = len(expr)
    return Sequence(
        fps=fps or 25.0,  # DECA-family trackers are mostly run on 25 fps video (LRS3, MEAD)
        expression=expr,
        expression_names=(),
        pose=_pose(t, root=pose6[:, :3], jaw=pose6[:, 3:]),  # DECA's 6-D pose: global, jaw
        translation=np.zeros((t, 3), np.float32),  # DECA's camera is orthographic: no depth
        release="flame2020",
        source="EMOCA codes",
    )


def _read_plain(keys: set[str], get: Callable, name: str, fps: float | None) -> Sequence:
    c = _Checker(keys, get, name, "FLAME parameter npz")
    expr = c.require("expr", None)
    t = len(expr)
    eyes = c.optional("eyes_pose", 6)
    pose = _pose(
        t,
        root=c.optional("rotation", 3),
        neck=c.optional("neck_pose", 3),
        jaw=c.optional("jaw_pose", 3),
        eye_l=eyes[:, :3] if eyes is not None else c.optional("eye_l_pose", 3),
        eye_r=eyes[:, 3:] if eyes is not None else c.optional("eye_r_pose", 3),
    )
    translation = c.optional("translation", 3)
    if fps is None:
        fps = 30.0  # no stored rate: 30 fps is the most common tracker rate
        if "fps" in keys:
            stored = np.asarray(get("fps"))
            if stored.size != 1 or not np.issubdtype(stored.dtype, np.number):
                raise SequenceError(f"{name}: 'fps' must be a single number.", "Store e.g. 30.")
            fps = _check_fps(stored.item(), f"{name}: 'fps'")
    release = None
    if "release" in keys:
        stored = np.asarray(get("release"))
        if stored.ndim != 0 or stored.dtype.kind != "U":
            raise SequenceError(
                f"{name}: 'release' must be a string such as 'flame2020'.",
                "Store it with np.savez(..., release='flame2020').",
            )
        release = str(stored).strip().lower() or None
    return Sequence(
        fps=fps,
        expression=expr,
        expression_names=(),
        pose=pose,
        translation=translation if translation is not None else np.zeros((t, 3), np.float32),
        release=release,
        source="FLAME parameter npz",
    )


# --------------------------------------------------------------------------------------------
# ARKit CSV (Epic's Live Link Face app)

_ARKIT_BY_LOWER = {n.lower(): n for n in ARKIT_NAMES}
# Live Link Face records at 60 fps unless set otherwise in the app: the assumed rate when the
# timecodes do not cover a whole second (assumption; not stored in the file).
LIVE_LINK_FACE_FPS = 60.0
# Live Link Face writes angles in radians. Tracking loses the face long before 2 rad (115°),
# so larger magnitudes can only be degrees (written by other tools in this layout).
_MAX_RADIANS = 2.0
_TIMECODE = re.compile(r"^(\d+):(\d\d):(\d\d)[:;.](\d+(?:\.\d+)?)$")


def _looks_like_arkit_csv(head: bytes) -> bool:
    text = head.decode("utf-8-sig", errors="replace")
    first = next(line for line in text.splitlines() if line.strip())
    cells = {c.strip().lower() for c in first.split(",")}
    return "timecode" in cells or bool(cells & _ARKIT_BY_LOWER.keys())


def _load_arkit_csv(path: Path, fps: float | None) -> Sequence:
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
        return euler_to_rotvec(yaw, pitch, roll)

    pose = _pose(
        len(body),
        root=angles("head"),
        eye_l=angles("lefteye"),  # "Left" = the subject's left eye, FLAME's eye_L
        eye_r=angles("righteye"),
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


# --------------------------------------------------------------------------------------------
# Resampling


def resample(seq: Sequence, fps: float) -> Sequence:
    """The same performance at another frame rate (e.g. the Blender scene's).

    Expressions and translation are interpolated linearly, joint rotations by quaternion
    slerp. The first and last frames are kept exactly, so the clip may be stretched by under
    half a frame in total to fit a whole number of frames.
    """
    fps = _check_fps(fps, "the target fps")
    t = seq.frames
    duration = (t - 1) / seq.fps
    n = int(round(duration * fps)) + 1
    src = np.linspace(0.0, t - 1, n)  # position of each new frame on the old frame axis
    i0 = np.minimum(np.floor(src).astype(int), max(t - 2, 0))
    i1 = np.minimum(i0 + 1, t - 1)
    a = (src - i0)[:, None]

    def lerp(x: np.ndarray) -> np.ndarray:
        return x[i0] * (1 - a) + x[i1] * a

    q = _rotvec_to_quat(seq.pose)
    pose = _quat_to_rotvec(_slerp(q[i0], q[i1], a[:, :, None]))
    return Sequence(
        fps=fps,
        expression=lerp(seq.expression.astype(np.float64)),
        expression_names=seq.expression_names,
        pose=pose,
        translation=lerp(seq.translation.astype(np.float64)),
        release=seq.release,
        source=seq.source,
    )


# --------------------------------------------------------------------------------------------
# Built-in demo performance


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
    fps = _check_fps(fps, "the demo fps")
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
    eyes = euler_to_rotvec(gaze_yaw, gaze_pitch, np.zeros(n))

    # Head: slow turns left/right, small nods and tilts.
    neck = euler_to_rotvec(
        0.2 * np.sin(2 * np.pi * 0.2 * t),
        0.06 * np.sin(2 * np.pi * 0.45 * t + 0.5) - 0.03,
        0.03 * np.sin(2 * np.pi * 0.15 * t),
    )
    pose = _pose(n, neck=neck, jaw=np.stack([jaw, 0 * t, 0 * t], axis=1), eye_l=eyes, eye_r=eyes)

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
