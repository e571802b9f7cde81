"""Reading a user's photo: any format Pillow opens, upright, as 8-bit RGB plus the alpha it had."""

from __future__ import annotations

import dataclasses
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..common.errors import PanoRigError

MAX_PIXELS = 80_000_000  # beyond this a photo costs gigabytes to analyse, for no gain in detail
_HIGH_DEPTH = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}


class PhotoError(PanoRigError):
    code = "bad_photo"


@dataclass(frozen=True)
class Photo:
    """``rgb`` [H, W, 3] uint8; ``alpha`` [H, W] float32 in [0, 1], a mask the user gave (None
    when the file had no transparency); ``name`` for messages (the file name)."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    name: str = "photo"


def read_photo(source: str | Path | bytes, name: str = "") -> Photo:
    """Decode a photo file (or its bytes) fully, turned upright by its EXIF orientation."""
    if isinstance(source, bytes):
        name = name or "photo"
        stream: io.BytesIO | Path = io.BytesIO(source)
    else:
        stream = Path(source)
        name = name or stream.name
        if not stream.exists():
            raise PhotoError(f"photo not found: {stream}.", "Check the path.")
        if not stream.is_file():
            raise PhotoError(f"{stream} is a folder, not a photo.", "Give an image file.")
    try:
        with warnings.catch_warnings():
            # Our own size limit below is lower than Pillow's warning threshold.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as img:
                _check_size(img.size, name)
                img.load()  # decode everything now, so a truncated file fails here
                img = ImageOps.exif_transpose(img)
                rgb, alpha = _to_rgb_alpha(img, name)
    except PhotoError:
        raise
    except UnidentifiedImageError:
        raise PhotoError(
            f"{name} is not an image PanoRig can read.", "Use a JPEG, PNG, WebP, TIFF or BMP file."
        ) from None
    except Image.DecompressionBombError:
        raise PhotoError(f"{name} is far too large to read.", "Downscale it first.") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise PhotoError(
            f"{name} is truncated or damaged ({exc}).", "Re-export or re-download it."
        ) from None
    return Photo(rgb=rgb, alpha=alpha, name=name)


def as_photo(image: str | Path | bytes | Photo | np.ndarray, name: str = "") -> Photo:
    """Accept a path, file bytes, a ``Photo`` or an RGB uint8 array [H, W, 3] (``name``, when
    given, names it in messages)."""
    if isinstance(image, Photo):
        return dataclasses.replace(image, name=name) if name else image
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise PhotoError(
                f"expected an RGB image array [H, W, 3] of uint8, got {image.dtype} "
                f"{list(image.shape)}."
            )
        _check_size((image.shape[1], image.shape[0]), name or "photo")
        return Photo(rgb=np.ascontiguousarray(image), name=name or "photo")
    return read_photo(image, name)


def _check_size(size: tuple[int, int], name: str) -> None:
    width, height = size
    if width < 2 or height < 2:
        raise PhotoError(f"{name} is empty ({width}×{height} pixels).", "Use a photo of a face.")
    if width * height > MAX_PIXELS:
        raise PhotoError(
            f"{name} is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels, more "
            f"than {MAX_PIXELS // 1_000_000}).",
            "Downscale it first.",
        )


def _to_rgb_alpha(img: Image.Image, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    if img.mode in _HIGH_DEPTH or img.mode in ("I", "F"):
        gray = _gray_to_uint8(np.asarray(img), img.mode)
        return np.repeat(gray[..., None], 3, axis=2), None
    transparent = img.mode in _ALPHA_MODES or "transparency" in img.info
    try:
        converted = img.convert("RGBA" if transparent else "RGB")
    except ValueError:
        raise PhotoError(
            f"{name} uses a colour mode PanoRig cannot convert ({img.mode}).",
            "Save it as 8-bit RGB.",
        ) from None
    array = np.asarray(converted)
    if not transparent:
        return np.ascontiguousarray(array), None
    alpha = array[..., 3]
    # Many PNGs carry an alpha channel that is opaque everywhere: that is no mask.
    mask = alpha.astype(np.float32) / 255 if alpha.min() < 255 else None
    return np.ascontiguousarray(array[..., :3]), mask


def _gray_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """16-bit, 32-bit integer and float grey levels -> 0..255, guessing the range they use."""
    values = np.nan_to_num(values.astype(np.float64))
    peak = float(values.max(initial=0.0))
    if mode in _HIGH_DEPTH:
        full = _HIGH_DEPTH[mode]
    elif mode == "F" and peak <= 1.0:
        full = 1.0
    elif peak <= 255:
        full = 255.0
    elif peak <= 65535:
        full = 65535.0
    else:
        full = peak
    return np.clip(values * (255.0 / full) + 0.5, 0, 255).astype(np.uint8)
