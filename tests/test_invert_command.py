"""Photo to head end to end: the `invert` command, `--head` in sample and mesh, and the
service's align and invert operations, on the public-domain astronaut and the demo model."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image
from safetensors import safe_open
from skimage import data

from backend.cli import main
from backend.common import protocol
from backend.inversion import read_head
from backend.service import Service
from backend.texture import TexturedMesh, render_textured

from .test_service import Client

FEW_STEPS = ["--steps", "6", "--tune-steps", "2"]
SMALL_MESH = ["--resolution", "64", "--faces", "3000", "--texture", "1024"]


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


@pytest.fixture(scope="module")
def inverted(astronaut_png, tmp_path_factory):
    out = tmp_path_factory.mktemp("inverted")
    argv = ["invert", "--checkpoint", "demo", "--device", "cpu", "--photo", str(astronaut_png)]
    argv += ["--out", str(out / "person.safetensors"), *FEW_STEPS, "--mesh", str(out / "head.glb")]
    argv += [*SMALL_MESH, "--preview", str(out / "sheet.png")]
    assert main(argv) == 0
    return out


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def test_invert_writes_a_head_file_with_its_metadata(inverted, capsys):
    path = inverted / "person.safetensors"
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    photos = json.loads(meta["photos"])
    assert [p["file"] for p in photos] == ["astronaut.png"]
    assert set(photos[0]) >= {"file", "yaw", "pitch", "roll", "landmarks_found"}
    assert photos[0]["landmarks_found"] is True and abs(photos[0]["yaw"]) < 20
    assert json.loads(meta["losses"])
    head = read_head(path)
    assert head.ws.shape[0] == 1 and head.images.shape == (1, 512, 512, 3)


def test_the_photo_is_in_the_texture(inverted):
    """The textured mesh rendered from the photo's refined camera shows the aligned photo on
    the face."""
    head = read_head(inverted / "person.safetensors")
    scene = trimesh.load(inverted / "head.glb", force="mesh", process=False)
    image = np.asarray(scene.visual.material.baseColorTexture.convert("RGB"))
    mesh = TexturedMesh(
        np.asarray(scene.vertices, np.float32),
        np.asarray(scene.faces, np.int32),
        np.asarray(scene.vertex_normals, np.float32),
        np.asarray(scene.visual.uv, np.float32),
        image,
    )
    size = 256
    rgb, covered = render_textured(mesh, torch.as_tensor(head.cameras[0]), size)
    photo = np.asarray(Image.fromarray(head.images[0]).resize((size, size), Image.BOX)) / 255.0
    # The face: the middle of the crop, where the person mask is solid and the mesh is seen.
    mask = np.asarray(Image.fromarray(head.masks[0]).resize((size, size))) > 0.9
    rows, cols = np.mgrid[0:size, 0:size] / size
    face = covered & mask & (np.abs(cols - 0.5) < 0.15) & (rows > 0.35) & (rows < 0.75)
    assert face.sum() > 0.03 * face.size
    score = _psnr(rgb[face], photo[face])
    print(f"face PSNR of the textured mesh against the aligned photo: {score:.1f} dB")
    assert score >= 25


def test_preview_sheet_has_a_row_of_six_views(inverted):
    sheet = np.asarray(Image.open(inverted / "sheet.png"))
    assert sheet.shape == (256, 6 * 256, 3)
    tiles = sheet.reshape(256, 6, 256, 3).transpose(1, 0, 2, 3)
    assert all(tile.std() > 5 for tile in tiles)  # every tile shows something


def test_sample_and_mesh_take_the_head(inverted, tmp_path):
    head = str(inverted / "person.safetensors")
    argv = ["sample", "--head", head, "--yaw", "0,180", "--device", "cpu", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert sorted(p.name for p in tmp_path.glob("person_*.png")) == [
        "person_yaw+000.0.png",
        "person_yaw+000.0_mask.png",
        "person_yaw+180.0.png",
        "person_yaw+180.0_mask.png",
    ]
    out = tmp_path / "again.glb"
    argv = ["mesh", "--head", head, *SMALL_MESH, "--device", "cpu", "--out", str(out)]
    assert main(argv) == 0 and out.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("photo", "words"),
    [
        ("blank", "no face found in blank.png"),
        ("broken", "broken.jpg"),
        ("missing", "missing.jpg"),
    ],
)
def test_bad_photos_are_one_line_errors(tmp_path, capsys, photo, words):
    paths = {"blank": tmp_path / "blank.png", "broken": tmp_path / "broken.jpg"}
    Image.fromarray(np.full((300, 300, 3), 128, np.uint8)).save(paths["blank"])
    paths["broken"].write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    path = paths.get(photo, tmp_path / "missing.jpg")
    out = tmp_path / "person.safetensors"
    code = main(["invert", "--photo", str(path), "--out", str(out), "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and words in err, err
    assert not out.exists()


@pytest.fixture(scope="module")
def service():
    svc = Service("tcp://127.0.0.1:*", checkpoint="demo", device="cpu")
    thread = threading.Thread(target=svc.serve_forever, daemon=True)
    thread.start()
    yield svc
    svc.stopping.set()
    thread.join(10)


def _photo_request(op: str, paths, **params) -> protocol.Message:
    msg = protocol.request(op, {"files": [p.name for p in paths], **params})
    msg.arrays = {f"photo{i}": np.frombuffer(p.read_bytes(), np.uint8) for i, p in enumerate(paths)}
    return msg


def test_service_aligns_and_inverts_photos(service, astronaut_png):
    client = Client(service.address)
    client.send(_photo_request("align", [astronaut_png]))
    aligned = client.until(("result", "error"), 60)[-1]
    assert aligned.kind == "result", aligned.message
    assert aligned.arrays["crops"].shape == (1, 256, 256, 3)
    assert aligned.data["photos"][0]["file"] == "astronaut.png"
    assert aligned.data["photos"][0]["landmarks_found"] is True

    params = {"steps": 4, "tune_steps": 1, "resolution": 48, "faces": 1500, "texture": 256}
    client.send(_photo_request("invert", [astronaut_png], **params))
    messages = client.until(("result", "error"), 300)
    result = messages[-1]
    assert result.kind == "result", result.message
    stages = " ".join(m.stage for m in messages if m.kind == "progress")
    assert "W+ step" in stages and "tuning step" in stages
    assert any("preview" in m.arrays for m in messages)
    assert result.arrays["texture"].shape == (256, 256, 3) and len(result.arrays["faces"]) > 500
    assert result.data["photos"][0]["file"] == "astronaut.png" and result.data["losses"]


def test_service_refuses_a_photo_without_a_face(service, tmp_path):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((300, 300, 3), 128, np.uint8)).save(blank)
    client = Client(service.address)
    client.send(_photo_request("invert", [blank]))
    error = client.until(("result", "error"), 60)[-1]
    assert error.kind == "error" and error.code == "no_face"
    assert "no face found in blank.png" in error.message
    assert client.ping().kind == "pong"
