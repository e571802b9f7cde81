"""Opening a sequence: the format is recognised from the content, not the file name."""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .arkit_csv import looks_like_arkit_csv, read_arkit_csv
from .formats import SUPPORTED, from_arrays
from .model import Sequence, SequenceError, check_fps


def load_sequence(path: str | os.PathLike, fps: float | None = None) -> Sequence:
    """Read a tracked or captured performance (a file, or a folder of per-frame files).

    ``fps`` overrides the frame rate stored in or assumed for the file.
    """
    path = Path(path)
    if fps is not None:
        fps = check_fps(fps, "the fps argument")
    if not path.exists():
        raise SequenceError(f"sequence file not found: {path}.", "Check the path.")
    if path.is_dir():
        return from_arrays(*_folder_arrays(path), path.name, fps)
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
        take = path.parent.parent
        return from_arrays(*_folder_arrays(take), take.name, fps)
    if looks_like_arkit_csv(head):
        return read_arkit_csv(path, fps)
    raise SequenceError(f"{path.name} is not a sequence format PanoRig reads.", f"Use {SUPPORTED}.")


def _load_npz(path: Path, fps: float | None) -> Sequence:
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise SequenceError(f"{path.name} is not a readable .npz ({e}).", "Export it again.") from e
    with npz:
        return from_arrays(set(npz.files), lambda key: _read(npz, key, path), path.name, fps)


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
