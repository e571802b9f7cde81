"""Framing a photo the way the generator's training data was framed, with its camera label.

PanoHead's own preprocessing (research note panohead.md §d) takes an FFHQ-style quad from the
eyes and mouth (centre ``eye_avg + 0.1 * eye_to_mouth``, half side
``max(2 |eye_to_eye|, 1.8 |eye_to_mouth|)``), then lets a 3D face fit (3DDFA_V2) recentre and
rescale it, and cuts a crop of the quad plus 5 % margins left and right and 10 % on top (563
pixels for a 512 quad, then resized to 512). Here MediaPipe's landmarks and a fit of MediaPipe's
canonical face play those parts: the quad is placed by the fitted head (its centre point and its
scale), calibrated so that the canonical face seen from the front gets exactly its FFHQ quad.
Unlike PanoHead the crop is also turned to undo the head's roll, so that its camera is exactly
``orbit_cameras(yaw, pitch)``. A generator trained on other framing (the demo generator's
teacher heads sit higher) gives its own quad place (``GeneratorConfig.face_quad_y``/``_half``).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import cv2
import numpy as np

from ..cameras import orbit_cameras
from .aligned import SURROUND, AlignedPhoto
from .face import HeadPose, analyse_face, canonical_face, person_mask
from .photo import Photo, PhotoError, as_photo

# PanoHead's crop: the quad plus 5 % margins left and right and 10 % on top, none below. As
# fractions of the crop: the quad centre's height and its half side.
PANOHEAD_QUAD = (0.6 / 1.1, 0.5 / 1.1)
SUPERSAMPLE = 2  # PanoHead warps at twice the size and averages down

# MediaPipe face-mesh indices (the subject's right and left), as on the canonical face.
RIGHT_EYE = (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
LEFT_EYE = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466)
MOUTH_CORNERS = (61, 291)
EAR_POINTS = (234, 454)  # where the face outline meets the ears


def ffhq_quad(
    eye_right: np.ndarray, eye_left: np.ndarray, mouth_right: np.ndarray, mouth_left: np.ndarray
) -> tuple[np.ndarray, float]:
    """Centre and half side of FFHQ's crop quad from eye centres and mouth corners (2D)."""
    eye_avg = (eye_right + eye_left) / 2
    eye_to_mouth = (mouth_right + mouth_left) / 2 - eye_avg
    half = max(2.0 * np.linalg.norm(eye_left - eye_right), 1.8 * np.linalg.norm(eye_to_mouth))
    return eye_avg + 0.1 * eye_to_mouth, float(half)


@functools.cache
def quad_anchor() -> tuple[np.ndarray, float]:
    """The canonical-face point [3] (cm) at the quad's centre, and the quad's half side (cm).

    Taken from the canonical face seen from the front. The point lies at the depth of the ears,
    about the middle of the head, so that a turned head stays centred in its crop (the role of
    3DDFA_V2's recentring in PanoHead).
    """
    face = canonical_face()
    centre, half = ffhq_quad(
        face[list(RIGHT_EYE), :2].mean(0),
        face[list(LEFT_EYE), :2].mean(0),
        face[MOUTH_CORNERS[0], :2],
        face[MOUTH_CORNERS[1], :2],
    )
    depth = face[list(EAR_POINTS), 2].mean()
    return np.array([centre[0], centre[1], depth]), half


def crop_to_original(
    pose: HeadPose, size: int, quad: tuple[float, float] = PANOHEAD_QUAD
) -> np.ndarray:
    """The affine map [3, 3] from crop pixels to photo pixels for a face of this pose, framed
    with its FFHQ quad at ``quad`` (centre height and half side, fractions of the crop)."""
    anchor, half = quad_anchor()
    quad_side = 2 * quad[1] * size  # in crop pixels
    scale = 2 * half * pose.scale / quad_side  # photo pixels per crop pixel
    angle = -math.radians(pose.roll)  # in image axes (y down), the roll turns clockwise
    turn = scale * np.array(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    )
    # The quad's centre in the crop (pixel centres at integers).
    centre = np.array([size / 2, size * quad[0]]) - 0.5
    matrix = np.eye(3)
    matrix[:2, :2] = turn
    matrix[:2, 2] = pose.project(anchor[None])[0] - turn @ centre
    return matrix


def align_photo(
    image: str | Path | bytes | Photo | np.ndarray,
    size: int = 512,
    face: int | None = None,
    name: str = "",
    quad: tuple[float, float] = PANOHEAD_QUAD,
) -> AlignedPhoto:
    """Find the face (the largest, or ``face``), crop it like the generator's data, upright:
    its FFHQ quad where the generator's images have it (``quad``, see ``crop_to_original``).

    ``image`` is a path, file bytes, a ``Photo`` or an RGB uint8 array. The mask is the photo's
    alpha when it has one, else the person segmentation finds in the crop (all ones if none).
    Raises ``PhotoError`` for a file that cannot be read and ``FaceError`` when no usable face
    is found.
    """
    photo = as_photo(image, name)
    analysis = analyse_face(photo, face)
    pose = analysis.pose
    matrix = crop_to_original(pose, size, quad)
    crop = _blur_outside(_warp(photo.rgb, matrix, size), matrix, photo.rgb.shape[:2])
    # The surround: crop pixels q = c + SURROUND (p - c) about the centre c.
    centre = (size - 1) / 2
    widen = np.array(
        [[SURROUND, 0, centre * (1 - SURROUND)], [0, SURROUND, centre * (1 - SURROUND)], [0, 0, 1]]
    )
    wide = matrix @ widen
    to_crop = np.linalg.inv(matrix)
    landmarks = analysis.landmarks[:, :2] @ to_crop[:2, :2].T + to_crop[:2, 2]
    return AlignedPhoto(
        image=crop,
        camera=orbit_cameras(pose.yaw, pose.pitch)[0].numpy().astype(np.float32),
        mask=_crop_mask(photo, photo.alpha, matrix, crop),
        landmarks=landmarks.astype(np.float32),
        yaw=pose.yaw,
        pitch=pose.pitch,
        roll=pose.roll,
        source=photo.name,
        original=photo.rgb,
        crop_to_original=matrix.astype(np.float32),
        warning=analysis.warning,
        surround=_person(photo, photo.alpha, wide, _warp(photo.rgb, wide, size)),
    )


def aligned_photo(
    image: str | Path | bytes | Photo | np.ndarray,
    yaw: float,
    pitch: float,
    size: int = 512,
    mask: np.ndarray | None = None,
    name: str = "",
) -> AlignedPhoto:
    """A photo already framed like the generator's data, seen from ``yaw``, ``pitch``.

    A non-square photo is cut to its centre square. The mask is ``mask`` ([H, W] in [0, 1],
    the photo's size), else the photo's alpha, else the person that segmentation finds, else
    all ones.
    """
    photo = as_photo(image, name)
    height, width = photo.rgb.shape[:2]
    side = min(height, width)
    scale = side / size
    matrix = np.array(
        [
            [scale, 0.0, (width - side) / 2 + (scale - 1) / 2],
            [0.0, scale, (height - side) / 2 + (scale - 1) / 2],
            [0.0, 0.0, 1.0],
        ]
    )
    crop = _warp(photo.rgb, matrix, size)
    return AlignedPhoto(
        image=crop,
        camera=orbit_cameras(yaw, pitch)[0].numpy().astype(np.float32),
        mask=_crop_mask(photo, mask if mask is not None else photo.alpha, matrix, crop),
        landmarks=np.zeros((0, 2), np.float32),
        yaw=float(yaw),
        pitch=float(pitch),
        roll=0.0,
        source=photo.name,
        original=photo.rgb,
        crop_to_original=matrix.astype(np.float32),
    )


def _crop_mask(
    photo: Photo, given: np.ndarray | None, matrix: np.ndarray, crop: np.ndarray
) -> np.ndarray:
    """The person in the crop: the mask given for the photo, else segmentation of the crop (the
    model sees a 256-pixel copy: of the crop, the head's outline is several times sharper than
    from the whole photo), else all ones."""
    found = _person(photo, given, matrix, crop)
    return found if found is not None else np.ones(crop.shape[:2], np.float32)


def _person(
    photo: Photo, given: np.ndarray | None, matrix: np.ndarray, crop: np.ndarray
) -> np.ndarray | None:
    """The mask given for the photo, warped into the crop, else the crop's segmentation (None
    when it finds nobody)."""
    if given is None:
        return person_mask(crop)
    if given.shape != photo.rgb.shape[:2]:
        raise PhotoError(
            f"the mask of {photo.name} is {given.shape[1]}×{given.shape[0]} pixels, the photo "
            f"{photo.rgb.shape[1]}×{photo.rgb.shape[0]}.",
            "Give a mask the size of the photo.",
        )
    return np.clip(_warp(given.astype(np.float32), matrix, crop.shape[0]), 0.0, 1.0)


def _warp(array: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Resample ``array`` (image or mask) into the crop: ``matrix`` maps crop to array pixels.

    Like PanoHead: Lanczos at twice the size, averaged down, borders reflected. OpenCV's warp
    does not low-pass, so a photo much larger than the crop is first shrunk by area averaging.
    """
    height, width = array.shape[:2]
    shrink = math.sqrt(abs(np.linalg.det(matrix[:2, :2]))) / SUPERSAMPLE
    if shrink > 1.5:
        small = (max(round(width / shrink), 1), max(round(height / shrink), 1))
        array = cv2.resize(array, small, interpolation=cv2.INTER_AREA)
        sx, sy = small[0] / width, small[1] / height
        # Pixel centres: p_small = (p + 0.5) * ratio - 0.5.
        resize = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]])
        matrix = resize @ matrix
    # A crop pixel covers SUPERSAMPLE x SUPERSAMPLE pixels of the large warp.
    k = SUPERSAMPLE
    large_to_crop = np.array([[1 / k, 0, (1 / k - 1) / 2], [0, 1 / k, (1 / k - 1) / 2], [0, 0, 1]])
    large = cv2.warpAffine(
        array,
        (matrix @ large_to_crop)[:2],
        (size * k, size * k),
        flags=cv2.INTER_LANCZOS4 | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )
    return cv2.resize(large, (size, size), interpolation=cv2.INTER_AREA)


def _blur_outside(crop: np.ndarray, matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Blur the reflected border where the crop leaves the photo, fading in (as PanoHead)."""
    size = crop.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    px = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
    py = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
    height, width = shape
    inside = ((px > -0.5) & (px < width - 0.5) & (py > -0.5) & (py < height - 0.5)).astype(
        np.float32
    )
    if inside.min() == 1.0:
        return crop
    fade = int(size * 0.02) * 2 + 1
    blur = int(size * 0.03) * 2 + 1
    weight = cv2.blur(inside, (fade, fade))[..., None]
    blurred = cv2.blur(crop, (blur, blur)).astype(np.float32)
    return (crop * weight + blurred * (1 - weight) + 0.5).astype(np.uint8)
