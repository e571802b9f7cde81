"""Every mistake a user can make on the command line: one line, exit code 2, nothing written."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from backend.cli import main

CHECKPOINT = "random:tiny"


def _run(capsys, *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err.strip()
    return code, err


def _assert_one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error:"), err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--psi", "nan"], ["--psi = nan", "finite"]),
        (["--yaw", "nan"], ["--yaw = nan"]),
        (["--yaw", "0,inf"], ["--yaw = inf"]),
        (["--focal", "0"], ["--focal = 0", "0.5 to 50"]),
        (["--yaw", ","], ["--yaw", "at least one number"]),
        (["--pitch", "90"], ["--pitch = 90"]),
        (["--seeds", "3000000000"], ["--seeds 3000000000", "2,147,483,647"]),
        (["--noise-mode", "loud"], ["--noise-mode = 'loud'"]),
        (["--device", "tpu"], ["unknown device 'tpu'", "auto, cpu, cuda or cuda:N"]),
    ],
)
def test_sample_refuses_bad_values_before_any_work(capsys, tmp_path, argv, words):
    # A missing checkpoint would fail later: the value is refused first, nothing is written.
    out = tmp_path / "renders"
    code, err = _run(capsys, "sample", "--checkpoint", "/no/such.pkl", *argv, "--out", str(out))
    _assert_one_line_error(code, err, *words)
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--faces", "3"], ["--faces = 3", "1,000 to 2,000,000"]),
        (["--faces", "0"], ["--faces = 0"]),
        (["--smooth", "-1"], ["--smooth = -1"]),
        (["--border", "-1"], ["--border = -1"]),
        (["--border", "0.6"], ["--border = 0.6", "0 to 0.45"]),
        (["--resolution", "0"], ["--resolution = 0", "32 to 1,024"]),
        (["--resolution", "7"], ["--resolution = 7"]),
        (["--resolution", "many"], ["--resolution", "invalid int value"]),
        (["--neck-y", "5"], ["--neck-y = 5"]),
        (["--border", "0.4", "--neck-y", "0.2"], ["--neck-y = 0.2", "outside"]),
        (["--psi", "nan"], ["--psi = nan"]),
        (["--level", "inf"], ["--level = inf"]),
        (["--texture", "100"], ["--texture = 100", "0, 256, 512"]),
        (["--views", "17"], ["--views = 17"]),
        (["--device", "tpu"], ["unknown device 'tpu'"]),
    ],
)
def test_mesh_refuses_bad_values_before_any_work(capsys, tmp_path, argv, words):
    out = tmp_path / "head.glb"
    code, err = _run(capsys, "mesh", "--checkpoint", "/no/such.pkl", *argv, "--out", str(out))
    _assert_one_line_error(code, err, *words)
    assert not out.exists()


def test_cuda_without_a_gpu_is_a_clear_error(capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, err = _run(capsys, "sample", "--device", "cuda", "--out", str(tmp_path / "r"))
    _assert_one_line_error(code, err, "no usable GPU", "--device cpu")


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize(
    "command",
    [
        lambda f, d: ["sample", "--checkpoint", CHECKPOINT, "--out", str(f / "renders")],
        lambda f, d: ["mesh", "--checkpoint", CHECKPOINT, "--out", str(f / "head.glb")],
        lambda f, d: ["mesh", "--checkpoint", CHECKPOINT, "--out", str(d)],
        lambda f, d: ["rig", "--mesh", str(f), "--out", str(f / "rig.npz")],
        lambda f, d: ["convert", str(f), str(f / "model.safetensors")],
    ],
)
def test_unwritable_outputs_are_one_line(capsys, tmp_path, a_file, command):
    folder = tmp_path / "a_folder.glb"
    folder.mkdir()
    code, err = _run(capsys, *command(a_file, folder))
    _assert_one_line_error(code, err)
    assert "is a file, not a folder" in err or "is a folder" in err


def _write_mesh(path, vertices, faces):
    trimesh.Trimesh(np.asarray(vertices, float), np.asarray(faces), process=False).export(path)


@pytest.mark.parametrize(
    ("vertices", "faces", "words"),
    [
        ([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], ["the mesh has 1 face;", "1,000"]),
        ([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.zeros((0, 3), int), ["the mesh has 0 faces"]),
    ],
)
def test_rig_refuses_meshes_that_are_not_heads(capsys, tmp_path, vertices, faces, words):
    mesh = tmp_path / "head.obj"
    _write_mesh(mesh, vertices, faces)
    out = tmp_path / "rig.npz"
    code, err = _run(capsys, "rig", "--mesh", str(mesh), "--out", str(out))
    _assert_one_line_error(code, err, *words)
    assert not out.exists()


def test_rig_refuses_a_flat_mesh(capsys, tmp_path):
    grid = trimesh.creation.icosphere(subdivisions=4)  # 5,120 faces
    flat = grid.vertices.copy()
    flat[:, 2] = 0.0
    mesh = tmp_path / "flat.ply"
    _write_mesh(mesh, flat, grid.faces)
    code, err = _run(capsys, "rig", "--mesh", str(mesh), "--out", str(tmp_path / "rig.npz"))
    _assert_one_line_error(code, err, "flat")


def test_rig_refuses_an_unreadable_mesh(capsys, tmp_path):
    mesh = tmp_path / "head.glb"
    mesh.write_bytes(b"glTF\x02\x00\x00\x00garbage")
    code, err = _run(capsys, "rig", "--mesh", str(mesh), "--out", str(tmp_path / "rig.npz"))
    _assert_one_line_error(code, err, "could not be read")
