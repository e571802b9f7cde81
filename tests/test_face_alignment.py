"""Photo reading, face analysis and alignment to the generator's framing (MediaPipe, CPU).

The portrait is scikit-image's public-domain NASA astronaut (512 x 512, face about 100 px wide).
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from backend.cameras import orbit_cameras
from backend.inversion import (
    AlignedPhoto,
    FaceError,
    PhotoError,
    align_photo,
    aligned_photo,
    read_photo,
)
from backend.inversion import face as face_module
from backend.inversion.align import LEFT_EYE, RIGHT_EYE, crop_to_original
from backend.inversion.aligned import SURROUND
from backend.inversion.face import analyse_face, canonical_face, head_pose
from backend.inversion.photo import Photo
from backend.models.presets import demo

SIZE = 512
RIGHT_IRIS, LEFT_IRIS, MOUTH = 468, 473, (61, 291)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def aligned(astronaut) -> AlignedPhoto:
    return align_photo(astronaut, name="astronaut")


def transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def eye_angle(landmarks: np.ndarray) -> float:
    dx, dy = landmarks[LEFT_IRIS] - landmarks[RIGHT_IRIS]
    return math.degrees(math.atan2(dy, dx))


def ffhq_quad(right_eye, left_eye, mouth_right, mouth_left) -> tuple[np.ndarray, float]:
    """FFHQ's quad (centre, half side) from the research note: centre eye_avg + 0.1 eye_to_mouth,
    half side max(2 |eye_to_eye|, 1.8 |eye_to_mouth|)."""
    eye_avg = (right_eye + left_eye) / 2
    eye_to_mouth = (mouth_right + mouth_left) / 2 - eye_avg
    half = max(2 * np.linalg.norm(left_eye - right_eye), 1.8 * np.linalg.norm(eye_to_mouth))
    return eye_avg + 0.1 * eye_to_mouth, half


# PanoHead's crop: the quad fills 512 of 563 pixels, with 5 % margins left and right and 10 % on
# top (then the whole is resized to 512). In pixel-centre coordinates of a SIZE crop:
QUAD_HALF = SIZE / 1.1 / 2
QUAD_CENTRE = np.array([SIZE / 2, SIZE * 0.6 / 1.1]) - 0.5


def synthetic_landmarks(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """What an ideal face mesh would report for the canonical face (head-sized: 0.02 generator
    units per cm, at the origin) seen by ``orbit_cameras(yaw, pitch)`` in a 512-pixel image,
    then turned ``roll`` degrees counter-clockwise as the viewer sees it."""
    label = orbit_cameras(yaw, pitch)[0].double()
    cam2world, focal = label[:16].reshape(4, 4), label[16].item()
    local = (torch.from_numpy(canonical_face() * 0.02) - cam2world[:3, 3]) @ cam2world[:3, :3]
    local = local.numpy()
    depth = local[:, 2].mean()
    xy = focal * SIZE * local[:, :2] / local[:, 2:] + SIZE / 2 - 0.5
    z = focal * SIZE * (local[:, 2] - depth) / depth  # relative depth, scaled like x
    a = math.radians(-roll)  # counter-clockwise on screen is negative with y pointing down
    turn = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    xy = (xy - (SIZE / 2 - 0.5)) @ turn.T + (SIZE / 2 - 0.5)
    return np.concatenate([xy, z[:, None]], axis=1)


def mirror_pairs() -> np.ndarray:
    """For each canonical vertex, its mirror image across the face's midline."""
    face = canonical_face()
    mirrored = face * [-1, 1, 1]
    return np.argmin(((face[:, None] - mirrored[None]) ** 2).sum(-1), axis=1)


# --- head pose conventions (no MediaPipe) ----------------------------------------------------


@pytest.mark.parametrize(("yaw", "pitch"), [(30, 5), (-30, 5), (0, 0), (45, -10), (-60, 20)])
def test_pose_reads_the_orbit_camera_that_saw_the_face(yaw, pitch):
    pose = head_pose(synthetic_landmarks(yaw, pitch))
    # The fit is orthographic; a 13-degree lens bends the reading by under a degree.
    assert pose.yaw == pytest.approx(yaw, abs=1.0)
    assert pose.pitch == pytest.approx(pitch, abs=1.0)
    assert pose.roll == pytest.approx(0.0, abs=0.5)


@pytest.mark.parametrize("roll", [15.0, -25.0])
def test_roll_is_positive_counter_clockwise(roll):
    pose = head_pose(synthetic_landmarks(10, 5, roll))
    assert pose.roll == pytest.approx(roll, abs=0.3)
    assert (pose.yaw, pose.pitch) == pytest.approx((10, 5), abs=1.0)


def test_mirrored_landmarks_flip_yaw_and_roll():
    points = synthetic_landmarks(30, 5, 10)
    mirrored = points[mirror_pairs()] * [-1, 1, 1] + [SIZE - 1, 0, 0]
    pose, flipped = head_pose(points), head_pose(mirrored)
    assert flipped.yaw == pytest.approx(-pose.yaw, abs=0.1)
    assert flipped.roll == pytest.approx(-pose.roll, abs=0.1)
    assert flipped.pitch == pytest.approx(pose.pitch, abs=0.1)


def test_crop_of_a_tilted_frontal_face_follows_the_convention():
    """The canonical face seen from the front, tilted 20 degrees: the crop levels it and its
    FFHQ quad lands where PanoHead's crop puts the quad."""
    points = synthetic_landmarks(0, 0, 20)
    pose = head_pose(points)
    to_crop = np.linalg.inv(crop_to_original(pose, SIZE))
    crop = transform(to_crop, points[:, :2])
    right, left = crop[list(RIGHT_EYE)].mean(0), crop[list(LEFT_EYE)].mean(0)
    assert math.degrees(math.atan2(*(left - right)[::-1])) == pytest.approx(0, abs=0.2)
    centre, half = ffhq_quad(right, left, crop[MOUTH[0]], crop[MOUTH[1]])
    assert np.abs(centre - QUAD_CENTRE).max() < 1.5
    assert half == pytest.approx(QUAD_HALF, rel=0.01)


# --- the astronaut ---------------------------------------------------------------------------


def test_astronaut_is_found_and_aligned(astronaut, aligned):
    analysis = analyse_face(Photo(astronaut, name="astronaut"))
    assert analysis.score > 0.8
    assert analysis.landmarks.shape == (478, 3)
    x0, y0, x1, y1 = analysis.box
    assert 150 < x0 < x1 < 300 and 50 < y0 < y1 < 200  # the face, not the helmet or the flag
    assert analysis.others == [] and aligned.warning == ""
    assert abs(aligned.yaw) < 5 and abs(aligned.roll) < 5 and 0 < aligned.pitch < 20

    assert aligned.image.shape == (SIZE, SIZE, 3) and aligned.image.dtype == np.uint8
    assert aligned.landmarks.shape == (478, 2) and aligned.landmarks_found
    assert aligned.source == "astronaut"
    assert (aligned.original == astronaut).all()
    expected = orbit_cameras(aligned.yaw, aligned.pitch)[0].numpy()
    assert aligned.camera.dtype == np.float32
    assert np.abs(aligned.camera - expected).max() < 1e-6
    # The map back to the photo agrees with the landmarks and with the pixels.
    back = transform(aligned.crop_to_original.astype(np.float64), aligned.landmarks)
    assert np.abs(back - analysis.landmarks[:, :2]).max() < 0.01
    reference = cv2.warpAffine(
        astronaut,
        aligned.crop_to_original[:2].astype(np.float64),
        (SIZE, SIZE),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
    )
    assert np.abs(reference.astype(float) - aligned.image)[32:-32, 32:-32].mean() < 2.5


def test_astronaut_crop_is_level_and_framed_like_panohead(aligned):
    landmarks = aligned.landmarks
    assert abs(eye_angle(landmarks)) < 2.0
    centre, half = ffhq_quad(
        landmarks[RIGHT_IRIS], landmarks[LEFT_IRIS], landmarks[MOUTH[0]], landmarks[MOUTH[1]]
    )
    # The crop is placed by the fitted head (its centre and size), like PanoHead's 3DDFA step:
    # a real face's proportions and pitch move its 2D quad a little from the canonical place.
    assert abs(centre[0] - QUAD_CENTRE[0]) < 0.02 * SIZE
    assert abs(centre[1] - QUAD_CENTRE[1]) < 0.05 * SIZE
    assert half == pytest.approx(QUAD_HALF, rel=0.12)
    # The eyes sit just below the middle, about a quarter of the crop apart.
    eyes = (landmarks[RIGHT_IRIS] + landmarks[LEFT_IRIS]) / 2
    assert 0.5 < eyes[1] / SIZE < 0.6
    assert np.linalg.norm(landmarks[LEFT_IRIS] - landmarks[RIGHT_IRIS]) / SIZE == pytest.approx(
        0.227, rel=0.12
    )


def test_a_generator_with_other_framing_gets_its_own_crop(astronaut, aligned):
    """The demo generator's faces sit higher in its frame: the photo's quad moves with them,
    the same size and level."""
    quad = (demo().face_quad_y, demo().face_quad_half)
    higher = align_photo(astronaut, name="astronaut", quad=quad)

    def quad_of(landmarks):
        return ffhq_quad(
            landmarks[RIGHT_IRIS], landmarks[LEFT_IRIS], landmarks[MOUTH[0]], landmarks[MOUTH[1]]
        )

    (centre, half), (default_centre, default_half) = (
        quad_of(higher.landmarks),
        quad_of(aligned.landmarks),
    )
    # The same crop about the face, scaled by the ratio of the quads and moved to its place.
    ratio = quad[1] * SIZE / QUAD_HALF
    target = np.array([SIZE / 2, quad[0] * SIZE]) - 0.5
    assert np.abs(centre - (target + (default_centre - QUAD_CENTRE) * ratio)).max() < 0.1
    assert half == pytest.approx(default_half * ratio, rel=1e-4)
    assert abs(eye_angle(higher.landmarks)) < 2.0
    assert (higher.yaw, higher.pitch) == (aligned.yaw, aligned.pitch)


def test_astronaut_surround_is_the_person_around_the_crop(aligned):
    """The surround sees SURROUND times the crop's field: in its middle it agrees with the
    crop's mask, and around it finds more of her (her suit below the crop)."""
    surround = aligned.surround
    assert surround.shape == (SIZE, SIZE) and surround.dtype == np.float32
    side = round(SIZE / SURROUND)
    lo = (SIZE - side) // 2
    middle = cv2.resize(surround[lo : lo + side, lo : lo + side], (SIZE, SIZE))
    person, crop = middle > 0.5, aligned.mask > 0.5
    assert (person & crop).sum() / (person | crop).sum() > 0.9
    around = np.ones((SIZE, SIZE), bool)
    around[lo : lo + side, lo : lo + side] = False
    assert (surround[around] > 0.5).mean() > 0.1


def test_astronaut_mask_is_the_person(aligned):
    mask = aligned.mask
    assert mask.shape == (SIZE, SIZE) and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    nose = aligned.landmarks[1].round().astype(int)
    assert mask[nose[1], nose[0]] > 0.95
    assert mask[:40, :40].max() < 0.1 and mask[:40, -40:].max() < 0.1  # the backdrop


def test_mirrored_photo_flips_yaw_and_roll(astronaut, aligned):
    mirrored = align_photo(np.ascontiguousarray(astronaut[:, ::-1]))
    assert np.sign(mirrored.yaw) == -np.sign(aligned.yaw)
    assert mirrored.yaw == pytest.approx(-aligned.yaw, abs=1.5)
    assert mirrored.roll == pytest.approx(-aligned.roll, abs=1.5)
    assert mirrored.pitch == pytest.approx(aligned.pitch, abs=1.5)
    assert abs(eye_angle(mirrored.landmarks)) < 2.0


def test_tilted_photo_gives_the_same_upright_crop(astronaut, aligned):
    centre = transform(aligned.crop_to_original.astype(np.float64), np.array([SIZE / 2] * 2))
    tilted = Image.fromarray(astronaut).rotate(20, resample=Image.BICUBIC, center=tuple(centre))
    result = align_photo(np.asarray(tilted))
    assert result.roll == pytest.approx(aligned.roll + 20, abs=1.5)  # counter-clockwise
    assert abs(eye_angle(result.landmarks)) < 2.0
    assert np.abs(result.image.astype(float) - aligned.image).mean() < 8
    assert np.median(np.linalg.norm(result.landmarks - aligned.landmarks, axis=1)) < 2


@pytest.fixture(scope="module")
def upright_jpeg(astronaut) -> tuple[Image.Image, AlignedPhoto]:
    upright = Image.fromarray(astronaut[:400])  # not square, so that a turn shows in the shape
    stream = io.BytesIO()
    upright.save(stream, "JPEG", quality=95, subsampling=0)
    return upright, align_photo(stream.getvalue())


@pytest.mark.parametrize(("orientation", "turn"), [(6, 90), (8, -90)])
def test_exif_orientation_is_applied(tmp_path, upright_jpeg, orientation, turn):
    upright, expected = upright_jpeg
    exif = Image.Exif()
    exif[0x0112] = orientation  # 6: the viewer turns the stored pixels 90 degrees clockwise
    path = tmp_path / "sideways.jpg"
    upright.rotate(turn, expand=True).save(path, quality=95, subsampling=0, exif=exif)
    with Image.open(path) as stored:
        assert stored.size == (400, 512)
    photo = read_photo(path)
    assert photo.rgb.shape == (400, 512, 3) and photo.name == "sideways.jpg"
    result = align_photo(photo)
    assert np.abs(result.image.astype(float) - expected.image).mean() < 4
    assert np.linalg.norm(result.landmarks - expected.landmarks, axis=1).max() < 2.0


def test_alpha_channel_wins_over_segmentation(tmp_path, astronaut):
    alpha = np.full(astronaut.shape[:2], 255, np.uint8)
    alpha[:, 230:] = 0  # through the middle of the face (x 180..270)
    path = tmp_path / "cutout.png"
    Image.fromarray(np.dstack([astronaut, alpha])).save(path)
    result = align_photo(path)
    photo_x = transform(
        result.crop_to_original.astype(np.float64),
        np.stack(np.meshgrid(np.arange(SIZE), np.arange(SIZE)), -1).reshape(-1, 2),
    )[:, 0].reshape(SIZE, SIZE)
    # Kept: the backdrop left of the face too, which segmentation leaves out; dropped: half
    # the face, which segmentation keeps.
    assert result.mask[photo_x < 222].min() > 0.95
    assert result.mask[photo_x > 238].max() < 0.05
    assert result.mask[:40, :40].min() > 0.95


# --- pixel formats ---------------------------------------------------------------------------


def save(image: Image.Image, path, **options) -> bytes:
    image.save(path, **options)
    return path.read_bytes()


def test_pixel_formats_are_read_as_8_bit_rgb(tmp_path, astronaut):
    gray = np.asarray(Image.fromarray(astronaut).convert("L"))

    photo = read_photo(save(Image.fromarray(gray), tmp_path / "l.png"))
    assert photo.alpha is None and (photo.rgb == gray[..., None]).all()

    for name, values in (
        ("i16.png", gray.astype(np.uint16) * 257),  # 16-bit grey PNG
        ("i32.tif", gray.astype(np.int32) * 257),  # 32-bit integer TIFF holding 16-bit levels
        ("f.tif", gray.astype(np.float32) / 255),  # float TIFF in 0..1
    ):
        photo = read_photo(save(Image.fromarray(values), tmp_path / name))
        assert np.abs(photo.rgb.astype(int) - gray[..., None]).max() <= 1, name

    path = tmp_path / "rgb16.png"
    cv2.imwrite(str(path), astronaut[..., ::-1].astype(np.uint16) * 257)  # 16-bit RGB
    assert (read_photo(path).rgb == astronaut).all()

    cmyk = read_photo(save(Image.fromarray(astronaut).convert("CMYK"), tmp_path / "c.jpg"))
    assert np.abs(cmyk.rgb.astype(float) - astronaut).mean() < 4

    palette = Image.fromarray(astronaut).quantize(64)
    photo = read_photo(save(palette, tmp_path / "p.png"))
    assert photo.alpha is None and (photo.rgb == np.asarray(palette.convert("RGB"))).all()

    clear = np.asarray(palette)[0, 0]
    photo = read_photo(save(palette, tmp_path / "pt.png", transparency=int(clear)))
    assert photo.alpha is not None
    assert ((photo.alpha == 0) == (np.asarray(palette) == clear)).all()

    la = Image.fromarray(np.dstack([gray, np.where(gray > 128, 255, 0).astype(np.uint8)]))
    photo = read_photo(save(la, tmp_path / "la.png"))
    assert (photo.rgb == gray[..., None]).all() and set(np.unique(photo.alpha)) == {0.0, 1.0}

    opaque = Image.fromarray(np.dstack([astronaut, np.full(gray.shape, 255, np.uint8)]))
    assert read_photo(save(opaque, tmp_path / "opaque.png")).alpha is None


def test_grey_16_bit_and_palette_photos_align(tmp_path, astronaut, aligned):
    gray = np.asarray(Image.fromarray(astronaut).convert("L")).astype(np.uint16) * 257
    sources = (
        save(Image.fromarray(gray), tmp_path / "grey16.png"),
        save(Image.fromarray(astronaut).quantize(256), tmp_path / "palette.png"),
    )
    for source in sources:
        result = align_photo(source)
        assert result.yaw == pytest.approx(aligned.yaw, abs=2.0)
        assert np.median(np.linalg.norm(result.landmarks - aligned.landmarks, axis=1)) < 5


# --- what the user gets wrong ----------------------------------------------------------------


def test_photo_without_a_face(tmp_path):
    ramp = np.linspace(0, 255, 512).astype(np.uint8)
    path = tmp_path / "gradient.png"
    Image.fromarray(np.dstack([np.tile(ramp, (384, 1))] * 3)).save(path)
    with pytest.raises(FaceError, match="no face found in gradient.png") as error:
        align_photo(path)
    assert error.value.code == "no_face" and "px across" in error.value.hint


def test_several_faces_use_the_largest_and_name_the_others(astronaut):
    group = np.full((640, 1152, 3), 120, np.uint8)
    group[:, :640] = cv2.resize(astronaut, (640, 640), interpolation=cv2.INTER_AREA)
    group[64:576, 640:] = astronaut
    photo = Photo(group, name="group")
    largest = align_photo(photo)
    assert re.fullmatch(
        r"2 faces in group: used the largest, face 0 at \(\d+, \d+\), \d+ px; also found "
        r"face 1 at \(\d+, \d+\), \d+ px\. Set face to another number to use it\.",
        largest.warning,
    )
    assert transform(largest.crop_to_original.astype(np.float64), np.array([256, 256]))[0] < 640
    other = analyse_face(photo, face=1)
    assert other.landmarks[:, 0].min() > 640
    assert len(other.others) == 1 and other.others[0].startswith("face 0 at")
    assert other.warning == ""  # the user chose
    with pytest.raises(FaceError, match="face 5 asked for, but group has 2 faces") as error:
        align_photo(photo, face=5)
    assert "0 to 1" in error.value.hint


def test_face_too_small(astronaut):
    small = cv2.resize(astronaut, (300, 300), interpolation=cv2.INTER_AREA)
    with pytest.raises(FaceError, match=r"the face in small.png is only \d+ px across"):
        align_photo(small, name="small.png")


def test_face_turned_beyond_the_landmark_model(monkeypatch, astronaut):
    fit = face_module.head_pose
    monkeypatch.setattr(face_module, "head_pose", lambda points: replace(fit(points), yaw=-80.0))
    with pytest.raises(FaceError, match="face in profile.jpg is turned 80° from the camera"):
        align_photo(astronaut, name="profile.jpg")


def blob(colour: tuple[int, int, int]) -> np.ndarray:
    """A smoothly shaded head-sized ellipse on a plain backdrop: a head with no face."""
    ys, xs = np.mgrid[0:512, 0:512]
    inside = ((xs - 256) / 140) ** 2 + ((ys - 270) / 180) ** 2 < 1
    shade = np.clip(1.1 - 0.5 * (((xs - 230) / 200) ** 2 + ((ys - 230) / 250) ** 2), 0, 1)
    image = np.empty((512, 512, 3), np.uint8)
    image[:] = (200, 210, 220)
    image[inside] = (np.array(colour) * shade[inside, None]).astype(np.uint8)
    return image


@pytest.mark.parametrize("colour", [(224, 172, 140), (90, 60, 35)], ids=["skin", "hair"])
def test_head_seen_from_behind(colour):
    with pytest.raises(FaceError, match="back.png") as error:
        align_photo(blob(colour), name="back.png")
    assert error.value.code == "no_face"


def test_unreadable_files(tmp_path, astronaut):
    with pytest.raises(PhotoError, match="photo not found") as error:
        read_photo(tmp_path / "missing.jpg")
    assert error.value.code == "bad_photo"
    with pytest.raises(PhotoError, match="is a folder"):
        read_photo(tmp_path)

    text = tmp_path / "notes.jpg"
    text.write_text("not a photo\n")
    with pytest.raises(PhotoError, match="notes.jpg is not an image PanoRig can read"):
        align_photo(text)

    whole = save(Image.fromarray(astronaut), tmp_path / "whole.jpg", quality=90)
    (tmp_path / "half.jpg").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(PhotoError, match="half.jpg is truncated or damaged"):
        read_photo(tmp_path / "half.jpg")
    with pytest.raises(PhotoError, match="photo is truncated or damaged"):
        read_photo(whole[: len(whole) // 2])

    with pytest.raises(PhotoError, match=r"dot.png is empty \(1×1 pixels\)"):
        read_photo(save(Image.new("RGB", (1, 1)), tmp_path / "dot.png"), name="dot.png")

    save(Image.new("1", (10_000, 9_000)), tmp_path / "huge.png")  # 90 megapixels, tiny file
    with pytest.raises(PhotoError, match="90 megapixels") as error:
        read_photo(tmp_path / "huge.png")
    assert error.value.hint == "Downscale it first."


# --- photos that come aligned ----------------------------------------------------------------


def test_aligned_input_keeps_its_framing(aligned):
    crop = aligned.image
    wide = np.concatenate([crop[:, :64], crop, crop[:, -64:]], axis=1)  # 640 x 512
    result = aligned_photo(wide, yaw=20, pitch=5, name="framed.png")
    assert np.abs(result.image.astype(float) - crop).mean() < 1.0  # the centre square, as is
    assert np.abs(result.camera - orbit_cameras(20, 5)[0].numpy()).max() < 1e-6
    assert not result.landmarks_found and result.landmarks.shape == (0, 2)
    assert (result.yaw, result.pitch, result.roll) == (20, 5, 0)
    assert result.source == "framed.png" and result.original.shape == (512, 640, 3)
    assert transform(result.crop_to_original.astype(np.float64), np.zeros(2)) == pytest.approx(
        [64, 0]
    )
    nose = aligned.landmarks[1].round().astype(int)
    assert result.mask[nose[1], nose[0]] > 0.95 and result.mask[:40, :40].max() < 0.1

    given = np.zeros((512, 640), np.float32)
    given[:, 320:] = 1
    masked = aligned_photo(wide, yaw=0, pitch=0, mask=given)
    assert masked.mask[:, :250].max() < 0.05 and masked.mask[:, 262:].min() > 0.95
    with pytest.raises(PhotoError, match="mask"):
        aligned_photo(wide, yaw=0, pitch=0, mask=given[:, :512])
