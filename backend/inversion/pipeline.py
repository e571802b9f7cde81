"""The glue every front end (command line, service) shares: photos in, aligned; a fitted head
out, as texture projections of the photos at their full resolution."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..common.settings import InversionSettings
from ..models import TriGridGenerator
from ..texture import PhotoProjection
from .align import PANOHEAD_QUAD, align_photo, aligned_photo
from .aligned import SURROUND, AlignedPhoto
from .head_file import Head
from .photo import read_photo


def align_photos(
    sources: Sequence[str | Path | bytes],
    settings: InversionSettings,
    names: Sequence[str] | None = None,
    quad: tuple[float, float] = PANOHEAD_QUAD,
) -> list[AlignedPhoto]:
    """Each photo (a path, or a file's bytes with its name) aligned to the generator's camera
    and framing (``quad``: ``framing(G)``), or taken as already aligned at the settings' yaw
    and pitch."""
    if not sources:
        raise ValueError("no photos given: give at least one photo of the person")
    names = list(names) if names is not None else [Path(str(s)).name for s in sources]
    aligned = []
    for source, name in zip(sources, names, strict=True):
        photo = read_photo(source, name=name)
        if settings.aligned:
            aligned.append(aligned_photo(photo, settings.yaw, settings.pitch))
        else:
            aligned.append(align_photo(photo, face=settings.face, name=name, quad=quad))
    return aligned


def framing(G: TriGridGenerator) -> tuple[float, float]:
    """Where ``G``'s images put a face's FFHQ quad: the ``quad`` that photos are aligned to."""
    return G.config.face_quad_y, G.config.face_quad_half


def photo_projections(
    photos: Sequence[AlignedPhoto], cameras: torch.Tensor | np.ndarray
) -> list[PhotoProjection]:
    """The photos as the texture bake projects them: full resolution, from their refined
    cameras (``cameras`` [P, 25])."""
    projections = []
    for photo, camera in zip(photos, _numpy(cameras), strict=True):
        surround = None
        if photo.original is not None and photo.crop_to_original is not None:
            image, crop_to_image = photo.original, photo.crop_to_original
            surround = photo.surround
        else:  # came aligned: the crop is all there is
            image, crop_to_image = photo.image, np.eye(3)
        projections.append(
            PhotoProjection(
                image=image,
                camera=camera.astype(np.float32),
                crop_size=photo.image.shape[0],
                crop_to_image=np.asarray(crop_to_image, np.float64),
                mask=np.asarray(photo.mask, np.float32),
                surround=surround,
                surround_scale=SURROUND,
            )
        )
    return projections


def stored_projections(head: Head) -> list[PhotoProjection]:
    """The aligned photos a head file keeps, as texture projections (a mesh made later from
    the file still carries the photos; at the crops' resolution, the originals are not kept)."""
    images = np.asarray(head.images)
    return [
        PhotoProjection(
            image=image,
            camera=np.asarray(camera, np.float32),
            crop_size=image.shape[0],
            crop_to_image=np.eye(3),
            mask=np.asarray(mask, np.float32),
        )
        for image, camera, mask in zip(
            images, _numpy(head.cameras), _numpy(head.masks), strict=True
        )
    ]


def _numpy(values: torch.Tensor | np.ndarray) -> np.ndarray:
    return np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values)
