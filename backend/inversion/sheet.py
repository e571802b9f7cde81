"""The inversion's preview sheet: one row per photo, to judge a fit at a glance.

photo | aligned crop with its landmarks | the fit at the photo's view | novel views at 90, 180
and 270 degrees of yaw (from the photo's camera, same pitch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..cameras import orbit_cameras
from ..imaging import image_to_uint8
from .aligned import AlignedPhoto

NOVEL_YAWS = (90.0, 180.0, 270.0)


def preview_sheet(
    G, ws: torch.Tensor, photos: Sequence[AlignedPhoto], cameras: torch.Tensor, tile: int = 256
) -> np.ndarray:
    """The sheet as an RGB uint8 image; ``cameras`` [P, 25] are the photos' refined cameras."""
    rows = []
    for photo, camera in zip(photos, cameras, strict=True):
        original = photo.original if photo.original is not None else photo.image
        tiles = [_fit(original, tile), with_landmarks(photo, tile)]
        yaw, pitch = _yaw_pitch(camera)
        labels = [camera[None], *(orbit_cameras(yaw + d, pitch) for d in NOVEL_YAWS)]
        with torch.no_grad():
            for label in labels:
                out = G.synthesis(ws, label.to(ws.device), noise_mode="const", deterministic=True)
                tiles.append(_fit(image_to_uint8(out["image"][0]), tile))
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def _yaw_pitch(camera: torch.Tensor) -> tuple[float, float]:
    """PanoRig's yaw and pitch (degrees) of a camera label's position."""
    x, y, z = camera[:16].reshape(4, 4)[:3, 3].tolist()
    return float(np.degrees(np.arctan2(x, z))), float(np.degrees(np.arctan2(y, np.hypot(x, z))))


def _fit(image: np.ndarray, tile: int) -> np.ndarray:
    """``image`` scaled (up or down) to fit a ``tile`` square, aspect kept, centred on black."""
    pil = Image.fromarray(image)
    scale = tile / max(pil.size)
    pil = pil.resize(
        (max(1, round(pil.width * scale)), max(1, round(pil.height * scale))), Image.LANCZOS
    )
    canvas = Image.new("RGB", (tile, tile))
    canvas.paste(pil, ((tile - pil.width) // 2, (tile - pil.height) // 2))
    return np.asarray(canvas)


def with_landmarks(photo: AlignedPhoto, tile: int) -> np.ndarray:
    """The aligned crop at ``tile`` pixels with its landmarks drawn."""
    pil = Image.fromarray(photo.image).resize((tile, tile), Image.LANCZOS)
    draw = ImageDraw.Draw(pil)
    scale = tile / photo.image.shape[1]
    for x, y in np.asarray(photo.landmarks) * scale:
        draw.point((float(x), float(y)), fill=(0, 255, 0))
    return np.asarray(pil)
