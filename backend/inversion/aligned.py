"""A photo aligned to the generator's camera: what face analysis hands to the optimisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SURROUND = 1.5  # the field of ``AlignedPhoto.surround`` over the crop's


@dataclass(frozen=True)
class AlignedPhoto:
    """One photo, cropped and framed the way the generator's training data was.

    ``image`` [S, S, 3] uint8 sRGB, the aligned crop (S = 512 by default);
    ``camera`` [25] float32, the generator's camera label for that crop (cam2world at radius 2.7
    looking at the origin, focal 4.2647), estimated from the landmarks;
    ``mask`` [S, S] float32 in [0, 1], the person (the photo's own alpha channel if it had one);
    ``landmarks`` [N, 2] float32 in crop pixels (N = 478, or 0 when the photo came aligned);
    ``yaw``, ``pitch``, ``roll`` in degrees (PanoRig's convention: yaw 0 = frontal, 90 = the
    subject's left); ``source`` names the photo (a file name) and ``original`` keeps the photo
    at its full resolution with ``crop_to_original`` [3, 3], the affine map from crop pixels to
    original pixels (for projecting the photo's own detail into the texture); ``warning`` is
    something the user should know (the other faces a photo shows), or empty; ``surround``
    [S, S] float32, the person over the crop widened ``SURROUND`` times about its centre (so
    that the texture can take the photo beyond the crop: hair the crop cuts), or None.
    """

    image: np.ndarray
    camera: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray
    yaw: float
    pitch: float
    roll: float
    source: str = ""
    original: np.ndarray | None = None
    crop_to_original: np.ndarray | None = None
    warning: str = ""  # e.g. other faces the photo shows, for the user
    surround: np.ndarray | None = None

    @property
    def landmarks_found(self) -> bool:
        return len(self.landmarks) > 0
