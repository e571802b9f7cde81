"""Finding the face in a photo with MediaPipe: landmarks, head pose; and person masks.

MediaPipe (the legacy ``mediapipe.solutions`` API of 0.10.21, whose models ship in the wheel) is
imported inside the functions: it takes over a second to import.

Pixel coordinates put pixel centres at integers (OpenCV's convention). Landmarks are MediaPipe's
478 refined face-mesh points: x, y in pixels and a relative depth z in pixels (larger = farther
from the camera), so that (x, y, z) is a point in the photo camera's OpenCV axes.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cameras import orbit_cameras
from ..common.errors import PanoRigError
from .photo import Photo

# Narrower faces (cheek to cheek) hold too little detail: the crop around such a face is about
# 145 photo pixels wide, enlarged 3.5 times into a 512-pixel crop.
MIN_FACE_PX = 80
MAX_YAW = 75.0  # beyond this MediaPipe's landmarks no longer follow the face
MAX_FACES = 8
MESH_POINTS = 468  # the face mesh proper; points 468..477 are the irises
CANONICAL_FACE_FILE = Path(__file__).with_name("canonical_face_468.txt")

_NEAR_RANGE, _FAR_RANGE = 0, 1  # MediaPipe's face detectors: faces within ~2 m, within ~5 m
_TILE_MAX = 800  # the far-range detector finds faces down to about a tenth of its input's side
_TILE_LEVELS = 3  # whole photo, halves, quarters: bounds the work on very large photos
_MESH_WINDOW = 2.5  # the face mesh runs on a window this many detection boxes wide


class FaceError(PanoRigError):
    code = "no_face"


@functools.cache
def canonical_face() -> np.ndarray:
    """MediaPipe's canonical face [468, 3], centimetres, generator axes (+x the subject's left,
    +y up, +z out of the face)."""
    points = np.loadtxt(CANONICAL_FACE_FILE, dtype=np.float64)
    points.setflags(write=False)
    return points


@dataclass(frozen=True)
class HeadPose:
    """A similarity fit ``camera_point = scale * rotation @ face_point + translation``.

    ``rotation`` [3, 3] maps the canonical face's axes (= the generator's world axes) to the
    photo camera's OpenCV axes; ``scale`` is photo pixels per centimetre; ``translation`` [3]
    puts the face's origin in photo pixels. ``yaw``, ``pitch`` are the camera's position around
    the head in PanoRig's convention (``orbit_cameras(yaw, pitch)`` sees the head this way);
    ``roll`` is the head's tilt in the photo, positive counter-clockwise as the viewer sees it.
    """

    yaw: float
    pitch: float
    roll: float
    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    def project(self, points: np.ndarray) -> np.ndarray:
        """Canonical-face points [N, 3] (cm) -> photo pixels [N, 2]."""
        return (self.scale * points @ self.rotation.T + self.translation)[:, :2]

    @property
    def face_width(self) -> float:
        """Width of the face in photo pixels (cheek to cheek), whichever way it is turned."""
        face = canonical_face()
        return self.scale * float(np.ptp(face[:, 0]))


@dataclass(frozen=True)
class FaceAnalysis:
    """The face chosen in a photo.

    ``landmarks`` [478, 3] float32 (x, y, depth in pixels); ``box`` (x0, y0, x1, y1), the
    detector's box in pixels; ``score`` the detector's confidence; ``others`` describes the
    other faces found, largest first, by the index that ``face=`` takes; ``warning`` tells the
    user that the largest of several faces was used (empty otherwise).
    """

    landmarks: np.ndarray
    box: tuple[float, float, float, float]
    score: float
    pose: HeadPose
    others: list[str] = field(default_factory=list)
    warning: str = ""


def head_pose(landmarks: np.ndarray) -> HeadPose:
    """Fit the canonical face to face-mesh landmarks [>= 468, 3] (Umeyama similarity)."""
    target = np.asarray(landmarks, dtype=np.float64)[:MESH_POINTS]
    source = canonical_face()
    source_mean, target_mean = source.mean(0), target.mean(0)
    a, b = source - source_mean, target - target_mean
    u, sigma, vt = np.linalg.svd(b.T @ a / len(a))
    flip = np.diag([1.0, 1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt))])  # no mirror
    rotation = u @ flip @ vt
    scale = float(np.trace(np.diag(sigma) @ flip) / (a**2).sum(1).mean())
    translation = target_mean - scale * rotation @ source_mean

    # The photo camera sits on the side of the head its viewing axis (row 2) points away from.
    toward_camera = -rotation[2]
    yaw = math.degrees(math.atan2(toward_camera[0], toward_camera[2]))
    pitch = math.degrees(math.asin(float(np.clip(toward_camera[1], -1.0, 1.0))))
    # What is left after the orbit camera's own rotation is a turn about the viewing axis.
    cam2world = orbit_cameras(yaw, pitch)[0, :16].reshape(4, 4)[:3, :3].double().numpy()
    in_plane = rotation @ cam2world
    roll = -math.degrees(math.atan2(in_plane[1, 0], in_plane[0, 0]))  # image y points down
    return HeadPose(yaw, pitch, roll, scale, rotation, translation)


def analyse_face(photo: Photo, face: int | None = None) -> FaceAnalysis:
    """Find the faces in ``photo`` and analyse one: the largest, or ``face`` (0 = the largest).

    Raises ``FaceError`` when no usable face is found. When several are found and ``face`` is
    not given, the result's ``warning`` names the others.
    """
    import mediapipe as mp

    rgb = photo.rgb
    detections = _detect(rgb)
    if not detections:
        raise FaceError(
            f"no face found in {photo.name}.",
            f"Use a photo where the face is visible and at least {MIN_FACE_PX} px across (crop "
            "the photo around the face if it is small in a large picture).",
        )
    faces = []
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=1, refine_landmarks=True
    ) as mesh:
        for box, score in detections:
            landmarks = _mesh(mesh, rgb, box)
            if landmarks is not None:
                faces.append((landmarks, box, score, head_pose(landmarks)))
    faces = _distinct(faces)
    if not faces:
        raise FaceError(
            f"no face landmarks found in {photo.name}: the face seems to be seen from the side "
            "or from behind.",
            "Use a photo where both eyes are visible.",
        )
    faces.sort(key=lambda item: -item[3].face_width)
    del faces[MAX_FACES:]
    others = [_describe(i, item) for i, item in enumerate(faces)]

    index = 0 if face is None else face
    if not 0 <= index < len(faces):
        count = f"{len(faces)} face" + ("s" if len(faces) > 1 else "")
        raise FaceError(
            f"face {face} asked for, but {photo.name} has {count}.",
            f"Pick a face from 0 to {len(faces) - 1} (0 = the largest).",
        )
    landmarks, box, score, pose = faces[index]
    del others[index]
    warning = ""
    if face is None and others:
        warning = (
            f"{len(faces)} faces in {photo.name}: used the largest, {_describe(0, faces[0])}; "
            f"also found {'; '.join(others)}. Set face to another number to use it."
        )
    if abs(pose.yaw) > MAX_YAW:
        raise FaceError(
            f"the face in {photo.name} is turned {abs(pose.yaw):.0f}° from the camera, more "
            f"than the {MAX_YAW:.0f}° the landmark model follows.",
            "Use a photo where both eyes are visible.",
        )
    if pose.face_width < MIN_FACE_PX:
        raise FaceError(
            f"the face in {photo.name} is only {pose.face_width:.0f} px across.",
            f"Use a photo where the face is at least {MIN_FACE_PX} px across.",
        )
    return FaceAnalysis(landmarks, box, score, pose, others, warning)


def person_mask(rgb: np.ndarray) -> np.ndarray | None:
    """MediaPipe's selfie segmentation [H, W] float32 in [0, 1], or None when it finds nobody."""
    import mediapipe as mp

    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as segmenter:
        mask = segmenter.process(np.ascontiguousarray(rgb)).segmentation_mask
    if mask is None or mask.max() < 0.5:
        return None
    return np.clip(mask, 0.0, 1.0).astype(np.float32)


def _detect(rgb: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
    """Face boxes and scores, best first, from the whole photo and overlapping tiles of it.

    The detectors see a 128- or 192-pixel copy of their input, so a face that is small in a
    large photo is only found in a tile of it.
    """
    import mediapipe as mp

    height, width = rgb.shape[:2]
    sides = [max(height, width)]
    while len(sides) < _TILE_LEVELS and sides[-1] > _TILE_MAX:
        sides.append(sides[-1] // 2)
    found = []
    detection = mp.solutions.face_detection.FaceDetection
    with (
        detection(model_selection=_NEAR_RANGE) as near,
        detection(model_selection=_FAR_RANGE) as far,
    ):
        found += _boxes(near, rgb, 0, 0)
        for side in sides:
            for y in _starts(height, side):
                for x in _starts(width, side):
                    found += _boxes(far, rgb[y : y + side, x : x + side], x, y)
    found.sort(key=lambda item: -item[1])
    kept: list = []
    for box, score in found:
        # Tiles see the same face again, or part of it: keep the best box of each face.
        if all(_overlap(box, other) < 0.5 for other, _ in kept):
            kept.append((box, score))
    return kept[: 2 * MAX_FACES]


def _starts(extent: int, side: int) -> list[int]:
    """Tile offsets along one axis, half a tile apart, the last one flush with the edge."""
    if extent <= side:
        return [0]
    return [*range(0, extent - side, side // 2), extent - side]


def _boxes(detector, tile: np.ndarray, x0: int, y0: int) -> list:
    result = detector.process(np.ascontiguousarray(tile))
    height, width = tile.shape[:2]
    boxes = []
    for detection in result.detections or []:
        b = detection.location_data.relative_bounding_box
        left, top = x0 + b.xmin * width, y0 + b.ymin * height
        box = (left, top, left + b.width * width, top + b.height * height)
        boxes.append((box, float(detection.score[0])))
    return boxes


def _overlap(a: tuple, b: tuple) -> float:
    """Intersection over the smaller box: near 1 for a box inside another."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / max(smaller, 1e-9)


def _mesh(mesh, rgb: np.ndarray, box: tuple) -> np.ndarray | None:
    """478 landmarks of the face in ``box``, from a window around it (None if none found)."""
    height, width = rgb.shape[:2]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = _MESH_WINDOW * max(box[2] - box[0], box[3] - box[1]) / 2
    x0, y0 = max(int(cx - half), 0), max(int(cy - half), 0)
    x1, y1 = min(int(cx + half) + 1, width), min(int(cy + half) + 1, height)
    result = mesh.process(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    if not result.multi_face_landmarks:
        return None
    w, h = x1 - x0, y1 - y0
    points = np.array(
        [(p.x * w, p.y * h, p.z * w) for p in result.multi_face_landmarks[0].landmark],
        dtype=np.float32,
    )
    points[:, 0] += x0 - 0.5  # MediaPipe's 0 is the left edge of the first pixel
    points[:, 1] += y0 - 0.5
    centre = points[:MESH_POINTS, :2].mean(0)
    # The window may hold a neighbour's face: keep landmarks only of the face detected.
    if not (box[0] <= centre[0] <= box[2] and box[1] <= centre[1] <= box[3]):
        return None
    return points


def _landmark_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    (x0, y0), (x1, y1) = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
    return float(x0), float(y0), float(x1), float(y1)


def _distinct(faces: list) -> list:
    """Drop landmark sets that found a face already found (faces come best detection first)."""
    kept: list = []
    for item in faces:
        box = _landmark_box(item[0])
        if all(_overlap(box, _landmark_box(other[0])) < 0.5 for other in kept):
            kept.append(item)
    return kept


def _describe(index: int, item: tuple) -> str:
    x, y = item[0][:MESH_POINTS, :2].mean(0)
    return f"face {index} at ({x:.0f}, {y:.0f}), {item[3].face_width:.0f} px"
