"""Blender-free handling of the photos a head is inverted from: the file list, the request's
arrays (each photo's encoded file bytes, decoded by the backend) and the 'align' result.

A request is capped at ``protocol.MAX_REQUEST_BYTES``; photos that together exceed it are
downscaled by a caller-supplied ``shrink`` (Blender's image functions in the add-on), and the
user is told which and to what size.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .decode import ResultError
from .shared import errors, protocol

MAX_PHOTOS = 8  # the backend aligns and fits at most this many photos at once
# Room for the request's JSON header (parameters, file names) beside the photos' bytes.
HEADROOM = 2**20
PHOTO_BUDGET = protocol.MAX_REQUEST_BYTES - HEADROOM
# Formats both Blender (file browser, downscaling) and the backend's decoder read.
SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
FILTER_GLOB = ";".join(f"*{suffix}" for suffix in SUFFIXES)
CROP_SIZE = 256  # the aligned crops the backend sends back for the panel
# Encoded size only roughly follows pixel count: aim a little under the share.
MARGIN = 0.9
ORIENTATION_TAG = 0x0112

# (original photo, linear factor) -> (downscaled file, width, height)
Shrink = Callable[[Path, float], tuple[Path, int, int]]


class PhotoError(errors.PanoRigError):
    """A photo that cannot be sent; the message names it."""

    code = "bad_photo"


class PhotosTooLargeError(PhotoError):
    """The photos' bytes together exceed ``budget``; ``sizes`` are each photo's bytes."""

    def __init__(self, message: str, hint: str, sizes: list[int], budget: int) -> None:
        super().__init__(message, hint)
        self.sizes = sizes
        self.budget = budget


@dataclass(frozen=True)
class Photos:
    files: list[str]  # the photos' file names, as the backend reports them back
    arrays: dict[str, np.ndarray]  # photo0, photo1, ...: uint8 [N] encoded file bytes
    notes: list[str]  # what was done to make them fit, for the panel


@dataclass(frozen=True)
class Crop:
    """One photo as the backend aligned it."""

    file: str
    yaw: float
    pitch: float
    roll: float
    landmarks_found: bool
    warning: str
    rgb: np.ndarray  # uint8 [CROP_SIZE, CROP_SIZE, 3], rows top to bottom


def add_paths(current: Sequence[str], new: Sequence[str]) -> list[str]:
    """The photo list after adding ``new``: files already listed are skipped; a file that is
    not a supported image, or a list longer than ``MAX_PHOTOS``, is refused (nothing added)."""
    paths = list(current)
    for path in new:
        _check_suffix(Path(path))
        if path not in paths:
            paths.append(path)
    _check_count(len(paths))
    return paths


def photo_arrays(
    paths: Sequence[str | Path], budget: int = PHOTO_BUDGET, names: Sequence[str] | None = None
) -> tuple[list[str], dict[str, np.ndarray]]:
    """(file names, request arrays) for the photos at ``paths``; ``names`` overrides the names
    (a downscaled copy is still the user's photo). Raises ``PhotoError`` for a missing,
    unreadable or unsupported file and for too many photos, ``PhotosTooLargeError`` when the
    photos together exceed ``budget`` bytes (checked before anything is read)."""
    paths = [Path(p) for p in paths]
    names = list(names) if names is not None else [p.name for p in paths]
    _check_count(len(paths))
    if not paths:
        raise PhotoError("No photos to send.", "Add at least one photo of the person.")
    sizes = []
    for path, name in zip(paths, names, strict=True):
        _check_suffix(path, name)
        sizes.append(_size(path, name))
    if sum(sizes) > budget:
        raise PhotosTooLargeError(
            f"The photos add up to {sum(sizes) / 2**20:.1f} MiB, over the "
            f"{budget / 2**20:.1f} MiB a request can carry.",
            "Use fewer or smaller photos.",
            sizes,
            budget,
        )
    arrays = {}
    for i, (path, name) in enumerate(zip(paths, names, strict=True)):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _unreadable(name, exc) from None
        arrays[f"photo{i}"] = np.frombuffer(data, np.uint8)
    return names, arrays


def fit_photos(
    paths: Sequence[str | Path], shrink: Shrink, budget: int = PHOTO_BUDGET, rounds: int = 3
) -> Photos:
    """``photo_arrays``, downscaling photos with ``shrink`` until they fit ``budget``.

    Each round shrinks the photos above their share of the budget (see ``downscale_plan``),
    always from the original file so a photo is re-encoded once; a few rounds absorb how
    loosely encoded size follows pixel count.
    """
    originals = [Path(p) for p in paths]
    names = [p.name for p in originals]
    current = list(originals)
    factors = [1.0] * len(originals)
    sizes_after: dict[int, tuple[int, int]] = {}
    attempt = 0
    while True:
        try:
            files, arrays = photo_arrays(current, budget, names)
            break
        except PhotosTooLargeError as exc:
            if attempt == rounds:
                raise PhotoError(
                    f"The photos are still {sum(exc.sizes) / 2**20:.1f} MiB after downscaling, "
                    f"over the {budget / 2**20:.1f} MiB a request can carry.",
                    "Use fewer or smaller photos.",
                ) from None
            attempt += 1
            for i, factor in enumerate(downscale_plan(exc.sizes, budget)):
                if factor < 1.0:
                    factors[i] *= factor
                    current[i], width, height = shrink(originals[i], factors[i])
                    sizes_after[i] = (width, height)
    notes = [
        f"{names[i]} was downscaled to {w}×{h} to fit the backend's request limit"
        for i, (w, h) in sorted(sizes_after.items())
    ]
    return Photos(files, arrays, notes)


def downscale_plan(sizes: Sequence[int], budget: int) -> list[float]:
    """Per photo, the linear factor (1.0 = keep) that brings the photos within ``budget``
    bytes: the budget is shared so that small photos stay untouched and the large ones get
    equal shares; a photo's bytes go roughly with its pixel count, hence the square root."""
    factors = [1.0] * len(sizes)
    remaining = float(budget)
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    for k, i in enumerate(order):
        share = remaining / (len(sizes) - k)
        if sizes[i] > share:  # this one and every larger one get `share`
            factors[i] = MARGIN * math.sqrt(share / sizes[i])
        remaining -= min(sizes[i], share)
    return factors


def exif_orientation(head: bytes) -> int:
    """The EXIF orientation (1-8; 1 = as stored) of a JPEG from its first bytes.

    Blender ignores it when loading while the backend's decoder applies it, so a downscaled
    copy must have it applied to its pixels (``orient``) or the face would arrive sideways.
    """
    if not head.startswith(b"\xff\xd8"):
        return 1
    try:
        pos = 2
        while pos + 4 <= len(head) and head[pos] == 0xFF:
            marker, length = head[pos + 1], struct.unpack(">H", head[pos + 2 : pos + 4])[0]
            if marker == 0xDA:  # start of the image data: no metadata after this
                return 1
            payload = head[pos + 4 : pos + 2 + length]
            if marker == 0xE1 and payload.startswith(b"Exif\0\0"):
                return _tiff_orientation(payload[6:])
            pos += 2 + length
    except (struct.error, IndexError):
        pass  # truncated or malformed metadata: treat as stored
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return 1
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for k in range(count):
        entry = tiff[ifd + 2 + 12 * k : ifd + 14 + 12 * k]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag == ORIENTATION_TAG and kind == 3:  # SHORT
            (value,) = struct.unpack(order + "H", entry[8:10])
            return value if 1 <= value <= 8 else 1
    return 1


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to [H, W, C] pixels stored top row first, as a viewer shows
    them (6: rotate 90 degrees clockwise, 8: counter-clockwise, 2/4/5/7: mirrored)."""
    transforms = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(transforms[orientation](pixels))


def crops_from_result(data: dict, arrays: dict[str, np.ndarray]) -> list[Crop]:
    """Validate an 'align' result: one entry in data 'photos' per crop in arrays 'crops'."""
    photos, crops = data.get("photos"), arrays.get("crops")
    if not isinstance(photos, list) or crops is None:
        raise ResultError("the backend's align result has no photos or crops")
    if crops.dtype != np.uint8 or crops.shape != (len(photos), CROP_SIZE, CROP_SIZE, 3):
        raise ResultError(
            f"the backend's crops are {crops.dtype}{list(crops.shape)}, not uint8 "
            f"[{len(photos)}, {CROP_SIZE}, {CROP_SIZE}, 3]"
        )
    try:
        return [
            Crop(
                str(photo["file"]),
                float(photo["yaw"]),
                float(photo["pitch"]),
                float(photo["roll"]),
                bool(photo["landmarks_found"]),
                str(photo.get("warning") or ""),
                crop,
            )
            for photo, crop in zip(photos, crops, strict=True)
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultError(f"the backend's photo entries are malformed ({exc})") from None


def _check_count(count: int) -> None:
    if count > MAX_PHOTOS:
        raise PhotoError(
            f"{count} photos are more than the {MAX_PHOTOS} the backend takes at once.",
            "Remove some: a few sharp photos from different sides work best.",
        )


def _check_suffix(path: Path, name: str | None = None) -> None:
    if path.suffix.lower() not in SUFFIXES:
        raise PhotoError(
            f"{name or path.name} is not a JPEG, PNG, BMP, TIFF or WebP image.",
            "Convert it to JPEG or PNG and add it again.",
        )


def _size(path: Path, name: str) -> int:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise PhotoError(
            f"{name} was not found at {path}.", "Remove it from the list and add it again."
        ) from None
    except OSError as exc:
        raise _unreadable(name, exc) from None
    if not path.is_file() or size == 0:
        raise PhotoError(f"{name} is empty or not a file.", "Remove it from the list.")
    return size


def _unreadable(name: str, exc: OSError) -> PhotoError:
    return PhotoError(
        f"{name} could not be read ({exc.strerror or exc}).",
        "Check that the file is readable, or remove it from the list.",
    )
