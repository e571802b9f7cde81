"""EG3D heads through geometry and the commands: the face region, mesh, sample, texture views."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from backend.cameras import orbit_cameras
from backend.cli import main
from backend.geometry import (
    SUBJECT_REGIONS,
    GridRegion,
    dense_grid,
    marching_cubes,
    region_for,
)
from backend.imaging import image_to_uint8
from backend.inversion import load_head, read_head
from backend.models import load_generator
from backend.sampling import seed_ws

RESOLUTION = 32
CELL = 1 / RESOLUTION


@pytest.fixture(scope="module")
def eg3d_pkl(shared_dir):
    return shared_dir / "fixtures" / "eg3d_tiny" / "G_tiny.pkl"


def _welded(path):
    """The exported mesh with UV-seam duplicates merged back together."""
    mesh = trimesh.load(path, force="mesh")
    mesh.merge_vertices(merge_tex=True, merge_norm=True)
    return mesh


def _assert_in_region(mesh, region: GridRegion) -> None:
    low, high = mesh.bounds
    limit = 0.5 - region.border
    for axis, (lo, hi) in enumerate(region.bounds):
        assert low[axis] >= max(lo, -limit) - CELL and high[axis] <= min(hi, limit) + CELL, axis
    assert low[2] >= region.back_z - CELL


def test_bounds_and_back_cut_close_the_surface():
    """A field dense everywhere meshes to exactly the region: a closed box."""
    region = GridRegion(border=0, bounds=((-0.2, 0.2), (-0.1, 0.3), (-0.5, 0.5)), back_z=0.0)
    grid = dense_grid(lambda p: torch.full((len(p),), 20.0), 32, region=region)
    vertices, faces = marching_cubes(grid, 10.0)
    mesh = trimesh.Trimesh(vertices, faces)
    assert mesh.is_watertight and mesh.volume > 0
    np.testing.assert_allclose(mesh.bounds, [[-0.2, -0.1, 0.0], [0.2, 0.3, 0.5]], atol=1.5 / 32)


def test_each_kind_of_generator_gets_its_region(eg3d_pkl):
    G = load_generator(eg3d_pkl)
    face = region_for(G, 0.1, -0.3)
    assert face.bounds == SUBJECT_REGIONS["face"].bounds and face.back_z is not None
    assert (face.border, face.neck_y) == (0.1, -0.3)
    # PanoHead (and stand-ins without a subject) keep the whole box: their heads are complete.
    assert region_for(SimpleNamespace(config=SimpleNamespace()), 0.1, None) == GridRegion(0.1)
    assert SUBJECT_REGIONS["head"].bounds is None and SUBJECT_REGIONS["car"].back_z is None
    assert SUBJECT_REGIONS["cat"].back_z < SUBJECT_REGIONS["face"].back_z


def _mesh(checkpoint, out, level, *extra):
    start = time.perf_counter()
    code = main(
        [
            "mesh",
            "--checkpoint",
            str(checkpoint),
            "--seed",
            "0",
            "--resolution",
            str(RESOLUTION),
            "--texture",
            "256",
            "--level",
            str(level),
            "--device",
            "cpu",
            "--out",
            str(out),
            *extra,
        ]
    )
    return code, time.perf_counter() - start


def test_mesh_command_on_the_eg3d_fixture(eg3d_pkl, tmp_path, capsys):
    # The fixture's random weights have raw sigma of about 1.2 to 3; level 2 cuts through it.
    out = tmp_path / "face.glb"
    code, seconds = _mesh(eg3d_pkl, out, 2.0)
    assert code == 0, capsys.readouterr().err
    mesh = _welded(out)
    assert mesh.is_watertight and mesh.volume > 0
    _assert_in_region(mesh, SUBJECT_REGIONS["face"])
    print(f"mesh on eg3d_tiny: {seconds:.1f} s")


def test_mesh_command_on_a_release_size_eg3d_generator(tmp_path, capsys):
    # Random release-size weights: raw sigma about 0.4 to 1.1 around the face; level 0.7 cuts it.
    out = tmp_path / "face.glb"
    code, seconds = _mesh("random:eg3d_ffhq", out, 0.7)
    assert code == 0, capsys.readouterr().err
    mesh = _welded(out)
    assert mesh.is_watertight and mesh.volume > 0
    _assert_in_region(mesh, SUBJECT_REGIONS["face"])
    print(f"mesh on random:eg3d_ffhq: {seconds:.1f} s")


def _texture(path) -> np.ndarray:
    material = trimesh.load(path, force="mesh", process=False).visual.material
    return np.asarray(material.baseColorTexture.convert("RGB"), np.float32)


def test_texture_views_on_eg3d_are_projected_by_depth(eg3d_pkl, tmp_path, capsys):
    """No foreground mask: the depth test alone tells what a view sees, and views still land."""
    plain, viewed = tmp_path / "plain.glb", tmp_path / "viewed.glb"
    assert _mesh(eg3d_pkl, plain, 2.0, "--views", "0")[0] == 0, capsys.readouterr().err
    assert _mesh(eg3d_pkl, viewed, 2.0, "--views", "2")[0] == 0, capsys.readouterr().err
    assert np.abs(_texture(viewed) - _texture(plain)).mean() > 1.0


def test_invert_on_eg3d(eg3d_pkl, tmp_path, capsys):
    """A photo inverted into an EG3D generator: no mask terms, the head file loads back."""
    G = load_generator(eg3d_pkl)
    with torch.no_grad():
        out = G.synthesis(seed_ws(G, 7, 1.0), orbit_cameras(0.0, 0.0), noise_mode="const")
    photo = tmp_path / "face.png"
    Image.fromarray(image_to_uint8(out["image"][0])).resize((256, 256)).save(photo)
    head = tmp_path / "face.safetensors"
    argv = ["invert", "--checkpoint", str(eg3d_pkl), "--photo", str(photo), "--aligned"]
    argv += ["--steps", "3", "--tune-steps", "2", "--fit-resolution", "16", "--out", str(head)]
    argv += ["--mesh", str(tmp_path / "face.glb"), "--resolution", "32", "--texture", "256"]
    argv += ["--level", "2", "--device", "cpu"]
    assert main(argv) == 0, capsys.readouterr().err
    tuned, ws = load_head(head)
    assert not tuned.has_mask and ws.shape == (1, G.num_ws, G.w_dim)
    assert "fit_mask" not in read_head(head).losses
    assert (tmp_path / "face.glb").stat().st_size > 10_000


def test_sample_command_on_eg3d_writes_images_without_masks(eg3d_pkl, tmp_path):
    argv = ["sample", "--checkpoint", str(eg3d_pkl), "--yaw", "0,30", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert len(list(tmp_path.glob("seed*_yaw*[0-9].png"))) == 2
    assert not list(tmp_path.glob("*_mask.png"))
