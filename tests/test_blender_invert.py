"""A head from a photo, for real: the built add-on in bpy 5.0.1, a backend on the demo model,
the public-domain astronaut portrait (skimage.data.astronaut)."""

from __future__ import annotations

import re

import numpy as np
import skimage.data
from PIL import Image

from backend.common import protocol

from .test_blender_addon import _start_backend, addon_zip, run_blender_script  # noqa: F401


def _photos(folder):
    folder.mkdir()
    Image.fromarray(skimage.data.astronaut()).save(folder / "astronaut.png")
    # No face, and stored uncompressed: over the request limit, so Blender must downscale it.
    side = 4800
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    wall = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], 128.0), -1)
    Image.fromarray(wall.astype(np.uint8)).save(folder / "wall.png", compress_level=0)
    assert (folder / "wall.png").stat().st_size > protocol.MAX_REQUEST_BYTES
    # Stored sideways with EXIF orientation 6, as phones write portraits.
    upright = np.zeros((80, 60, 3), np.float32)
    upright[..., 0] = np.linspace(0, 255, 60)[None, :]
    upright[..., 1] = np.linspace(0, 255, 80)[:, None]
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = np.rot90(upright, 1)  # what rotating 90 degrees clockwise turns upright
    Image.fromarray(stored.astype(np.uint8)).save(folder / "turned.jpg", quality=95, exif=exif)
    np.save(folder / "turned_upright.npy", upright)
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 0], rgba[10:30, 10:30, 3] = 200, 255
    Image.fromarray(rgba).save(folder / "alpha.png")


def test_photo_list_align_invert_and_refusals(addon_zip, tmp_path):  # noqa: F811
    _photos(tmp_path / "photos")
    backend, address = _start_backend("demo", tmp_path / "backend.log")
    try:
        report = run_blender_script(
            "e2e_invert.py",
            [addon_zip, address, tmp_path / "photos"],
            tmp_path / "blender_user",
            timeout=1800,
        )
    finally:
        backend.kill()
        backend.wait()

    # The list: several files at once, no duplicates, refusals leave it as it was.
    assert report["align_poll_empty"] is False
    assert report["add"] == "FINISHED" and report["add_again"] == "CANCELLED"
    assert report["listed"] == ["astronaut.png", "alpha.png"]
    assert report["listed_paths"][0] == str(tmp_path / "photos" / "astronaut.png")
    assert report["remove"] == "FINISHED" and report["after_remove"] == ["astronaut.png"]
    assert "notes.txt is not a JPEG, PNG" in report["add_text_error"]
    assert report["after_add_text"] == ["astronaut.png"]
    assert report["align_poll_offline"] is False and report["invert_poll_offline"] is False
    assert report["panel_list"] == [["PANORIG_UL_photos", "photos"]]

    # Downscaled in Blender: turned upright (not the wrong way round), alpha kept as PNG.
    assert report["turned"] == [".jpg", 30, 40, [30, 40]]
    assert report["turned_error"] < 12 < report["turned_error_wrong_way"]
    assert report["alpha"] == [".png", 20, 20, 32]
    assert report["leftover_images"] == []

    # Align: one crop per photo, with the face's pose, shown in the panel.
    assert report["align_poll"] is True
    assert report["align"] == "FINISHED" and report["invert_poll_while_aligning"] is False
    assert report["align_error"] == "" and report["align_stage"] == "Aligned 1 photo"
    (crop,) = report["crops"]
    assert crop["file"] == "astronaut.png" and crop["landmarks_found"]
    assert crop["image"] == "PanoRig Crop 1" and crop["size"] == [256, 256]
    assert abs(crop["yaw"]) < 30 and abs(crop["pitch"]) < 30 and abs(crop["roll"]) < 30
    labels = report["panel_after_align"]
    assert "astronaut.png" in labels and report["panel_icons_after_align"] >= 1
    assert any(re.fullmatch(r"Yaw [+-]\d+°  Pitch [+-]\d+°  Roll [+-]\d+°", t) for t in labels)
    assert report["align_scene_unchanged"]  # crops are for the panel, not the scene

    # Invert: the head lands like a generated one, and can be bound.
    assert report["invert"] == "FINISHED"
    assert report["invert_poll_while_busy"] is False
    assert report["generate_poll_while_busy"] is False
    assert report["invert_error"] == "", report["invert_error"]
    assert report["invert_stage"].startswith("Added PanoRig_photo_astronaut")
    # The panel's fit steps reached the backend (its stages count them).
    stages = report["invert_stages"]
    assert "aligning" in stages
    assert any(re.match(r"W\+ step \d+/5\b", s) for s in stages), stages
    assert any(re.match(r"tuning step \d+/2\b", s) for s in stages), stages
    assert report["new_objects"] == ["PanoRig_photo_astronaut"]
    assert (
        report["head_collections"] == ["PanoRig"] and report["active"] == "PanoRig_photo_astronaut"
    )
    assert report["head_faces"] >= 1000 and report["head_uv"] == ["UVMap"]
    assert report["head_texture"] == [256, 256]
    assert report["bind_poll"] is True

    # Over the request limit: downscaled in Blender and said so; no face: a plain error, and
    # the scene is left alone.
    assert report["clear"] == "FINISHED" and report["crops_after_clear"] == 0
    assert report["add_wall"] == "FINISHED" and report["wall_align"] == "FINISHED"
    assert re.fullmatch(
        r"wall\.png was downscaled to \d+×\d+ to fit the backend's request limit",
        report["wall_note"],
    )
    panel_text = " ".join(report["panel_after_wall"])  # the panel wraps long lines
    assert report["wall_note"] in panel_text and "no face found in wall.png" in panel_text
    assert "no face found in wall.png" in report["wall_align_error"]
    assert report["wall_align_stage"] == "Failed" and report["wall_crops"] == 0
    assert "Traceback" not in report["wall_align_error"]
    assert "no face found in wall.png" in report["wall_invert_error"]
    assert report["scene_unchanged"]
