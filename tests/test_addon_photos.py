"""The add-on's photo handling (Blender-free): request arrays, refusals, downscale planning,
EXIF orientation and the 'align' result."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from backend.common import protocol
from blender_addon import photos
from blender_addon.decode import ResultError


def _photo(path, size=(40, 30), seed=0, **save):
    rgb = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path, **save)
    return path


def test_arrays_are_the_files_bytes_in_order(tmp_path):
    a = _photo(tmp_path / "A.jpg")
    b = _photo(tmp_path / "b.PNG", seed=1)
    files, arrays = photos.photo_arrays([a, str(b)])
    assert files == ["A.jpg", "b.PNG"]
    assert list(arrays) == ["photo0", "photo1"]
    for array, path in zip(arrays.values(), (a, b), strict=True):
        assert array.dtype == np.uint8 and array.ndim == 1
        assert array.tobytes() == path.read_bytes()
    # What the protocol carries: they go through encode/decode unchanged.
    message = protocol.request("align", {"files": files})
    message.arrays = arrays
    decoded = protocol.decode(protocol.encode(message), protocol.MAX_REQUEST_BYTES)
    assert decoded.arrays["photo1"].tobytes() == b.read_bytes()


def test_missing_empty_and_unsupported_files_are_refused_by_name(tmp_path):
    good = _photo(tmp_path / "good.jpg")
    with pytest.raises(photos.PhotoError, match="gone.jpg was not found"):
        photos.photo_arrays([good, tmp_path / "gone.jpg"])
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(photos.PhotoError, match="empty.png is empty"):
        photos.photo_arrays([tmp_path / "empty.png"])
    (tmp_path / "folder.jpg").mkdir()
    with pytest.raises(photos.PhotoError, match="folder.jpg is empty or not a file"):
        photos.photo_arrays([tmp_path / "folder.jpg"])
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(photos.PhotoError, match="notes.txt is not a JPEG, PNG"):
        photos.photo_arrays([good, tmp_path / "notes.txt"])
    with pytest.raises(photos.PhotoError, match="No photos"):
        photos.photo_arrays([])


def test_an_unreadable_file_is_refused_by_name(tmp_path, monkeypatch):
    locked = _photo(tmp_path / "locked.jpg")

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(locked), "read_bytes", denied)
    with pytest.raises(photos.PhotoError, match=r"locked.jpg could not be read \(Permission"):
        photos.photo_arrays([locked])


def test_more_than_eight_photos_are_refused(tmp_path):
    paths = [_photo(tmp_path / f"p{i}.jpg", seed=i) for i in range(9)]
    with pytest.raises(photos.PhotoError, match="9 photos are more than the 8"):
        photos.photo_arrays(paths)
    assert len(photos.photo_arrays(paths[:8])[1]) == 8


def test_photos_over_the_request_limit_are_refused_before_reading(tmp_path):
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as f:  # sparse: the size is real, nothing is written or read
        f.truncate(protocol.MAX_REQUEST_BYTES)
    assert photos.PHOTO_BUDGET < protocol.MAX_REQUEST_BYTES
    with pytest.raises(photos.PhotosTooLargeError, match="64.0 MiB, over the 63.0 MiB") as err:
        photos.photo_arrays([huge])
    assert err.value.sizes == [protocol.MAX_REQUEST_BYTES]
    # Together: two photos each under the budget but over it in sum.
    small = _photo(tmp_path / "small.jpg")
    size = small.stat().st_size
    with pytest.raises(photos.PhotosTooLargeError) as err:
        photos.photo_arrays([small, small], budget=2 * size - 1)
    assert err.value.sizes == [size, size] and err.value.budget == 2 * size - 1


def test_add_paths_skips_duplicates_and_refuses_without_adding(tmp_path):
    listed = ["/p/a.jpg"]
    assert photos.add_paths(listed, ["/p/b.png", "/p/a.jpg"]) == ["/p/a.jpg", "/p/b.png"]
    assert listed == ["/p/a.jpg"]
    with pytest.raises(photos.PhotoError, match="clip.mov is not a JPEG"):
        photos.add_paths(listed, ["/p/c.jpg", "/p/clip.mov"])
    with pytest.raises(photos.PhotoError, match="9 photos"):
        photos.add_paths(listed, [f"/p/{i}.webp" for i in range(8)])
    assert photos.FILTER_GLOB.startswith("*.jpg;*.jpeg;*.png")


def test_downscale_plan_spares_small_photos_and_shares_the_rest():
    assert photos.downscale_plan([10, 20, 30], 60) == [1.0, 1.0, 1.0]
    factors = photos.downscale_plan([10, 100, 400], 110)
    assert factors[0] == 1.0  # under its share: untouched
    # The other two share what is left (50 each); bytes follow pixels, sides the square root.
    assert factors[1] == pytest.approx(photos.MARGIN * np.sqrt(50 / 100))
    assert factors[2] == pytest.approx(photos.MARGIN * np.sqrt(50 / 400))
    planned = sum(s * f**2 for s, f in zip([10, 100, 400], factors, strict=True))
    assert planned <= 110


class FakeShrink:
    """Writes a copy whose size follows the pixel count, like an encoder roughly would."""

    def __init__(self, tmp_path, sizes, bytes_per_pixel=1.0, floor=1):
        self.tmp_path, self.sizes, self.bpp, self.calls = tmp_path, sizes, bytes_per_pixel, []
        self.floor = floor  # the smallest file it writes (headers and such)

    def __call__(self, path, factor):
        self.calls.append((path.name, factor))
        width, height = (round(s * factor) for s in self.sizes[path.name])
        out = self.tmp_path / f"small_{path.stem}.jpg"
        out.write_bytes(b"\xff" * max(self.floor, int(width * height * self.bpp)))
        return out, width, height


def test_fit_photos_downscales_only_what_does_not_fit_and_says_so(tmp_path):
    (tmp_path / "A.jpg").write_bytes(b"\xff" * 100 * 100)  # 100x100 at 1 byte a pixel
    (tmp_path / "B.png").write_bytes(b"\xff" * 20 * 10)
    shrink = FakeShrink(tmp_path, {"A.jpg": (100, 100), "B.png": (20, 10)})
    fitted = photos.fit_photos([tmp_path / "A.jpg", tmp_path / "B.png"], shrink, budget=5000)
    assert fitted.files == ["A.jpg", "B.png"]  # the user's names, not the copies'
    assert [name for name, _ in shrink.calls] == ["A.jpg"]
    assert sum(a.nbytes for a in fitted.arrays.values()) <= 5000
    assert fitted.arrays["photo1"].tobytes() == (tmp_path / "B.png").read_bytes()
    width = round(100 * shrink.calls[-1][1])
    assert fitted.notes == [
        f"A.jpg was downscaled to {width}×{width} to fit the backend's request limit"
    ]
    nothing = photos.fit_photos([tmp_path / "B.png"], shrink, budget=5000)
    assert nothing.notes == [] and len(shrink.calls) == 1


def test_fit_photos_retries_from_the_original_then_gives_up(tmp_path):
    (tmp_path / "A.jpg").write_bytes(b"\xff" * 100 * 100)
    # An encoder twice as wasteful as planned: a second round, from the original file.
    shrink = FakeShrink(tmp_path, {"A.jpg": (100, 100)}, bytes_per_pixel=2.0)
    fitted = photos.fit_photos([tmp_path / "A.jpg"], shrink, budget=4000)
    assert len(shrink.calls) == 2 and all(name == "A.jpg" for name, _ in shrink.calls)
    assert shrink.calls[1][1] < shrink.calls[0][1]  # a cumulative factor on the original
    assert fitted.arrays["photo0"].nbytes <= 4000
    # An encoder that never gets smaller: refused after the rounds, with the reason.
    stubborn = FakeShrink(tmp_path, {"A.jpg": (100, 100)}, floor=5000)
    with pytest.raises(photos.PhotoError, match="still .* MiB after downscaling"):
        photos.fit_photos([tmp_path / "A.jpg"], stubborn, budget=4000, rounds=2)
    assert len(stubborn.calls) == 2


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_read_and_applied_like_a_viewer(tmp_path, orientation):
    rgb = np.random.default_rng(orientation).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[photos.ORIENTATION_TAG] = orientation
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", exif=exif)
    data = buffer.getvalue()
    assert photos.exif_orientation(data[:65536]) == orientation
    stored = Image.open(io.BytesIO(data))
    expected = np.asarray(ImageOps.exif_transpose(stored))
    np.testing.assert_array_equal(photos.orient(np.asarray(stored), orientation), expected)


def test_exif_orientation_of_other_and_broken_files_is_as_stored(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buffer, "PNG")
    assert photos.exif_orientation(buffer.getvalue()) == 1
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buffer, "JPEG")
    assert photos.exif_orientation(buffer.getvalue()) == 1  # no EXIF at all
    exif = Image.Exif()
    exif[photos.ORIENTATION_TAG] = 6
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buffer, "JPEG", exif=exif)
    assert photos.exif_orientation(buffer.getvalue()[:30]) == 1  # truncated: no crash


def _align_result(count=2):
    data = {
        "photos": [
            {
                "file": f"{i}.jpg",
                "yaw": 10.0 * i,
                "pitch": -2,
                "roll": 1.5,
                "landmarks_found": True,
                "warning": "blurry" if i else "",
            }
            for i in range(count)
        ]
    }
    crops = np.arange(count * 256 * 256 * 3, dtype=np.int64).astype(np.uint8)
    return data, {"crops": crops.reshape(count, 256, 256, 3)}


def test_crops_from_result():
    data, arrays = _align_result()
    crops = photos.crops_from_result(data, arrays)
    assert [c.file for c in crops] == ["0.jpg", "1.jpg"]
    assert (crops[1].yaw, crops[1].pitch, crops[1].roll) == (10.0, -2.0, 1.5)
    assert [c.warning for c in crops] == ["", "blurry"] and crops[0].landmarks_found
    np.testing.assert_array_equal(crops[1].rgb, arrays["crops"][1])


def test_malformed_align_results_are_refused():
    data, arrays = _align_result()
    with pytest.raises(ResultError, match="no photos or crops"):
        photos.crops_from_result(data, {})
    with pytest.raises(ResultError, match=r"not uint8 \[2, 256, 256, 3\]"):
        photos.crops_from_result(data, {"crops": arrays["crops"][:1]})
    with pytest.raises(ResultError, match="not uint8"):
        photos.crops_from_result(data, {"crops": arrays["crops"].astype(np.float32)})
    del data["photos"][0]["yaw"]
    with pytest.raises(ResultError, match="malformed"):
        photos.crops_from_result(data, arrays)
