"""Mesh files: glTF binary, OBJ + MTL + PNG, PLY; and the ``mesh`` command."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from backend.cli import main
from backend.export import export_mesh
from backend.geometry import GridRegion, extract_mesh
from backend.texture import bake_texture

from .analytic_head import AnalyticHead

WS = torch.zeros(1, 1, 1)


@pytest.fixture(scope="module")
def textured():
    head = AnalyticHead()
    mesh = extract_mesh(
        head, WS, resolution=64, region=GridRegion(border=0.0, neck_y=-0.3), target_faces=3000
    )
    return bake_texture(head, WS, mesh, size=256, views=None)


def _single(loaded):
    return next(iter(loaded.geometry.values())) if isinstance(loaded, trimesh.Scene) else loaded


def test_glb_round_trip_keeps_geometry_uv_and_texture(textured, tmp_path):
    (path,) = export_mesh(textured, tmp_path / "head.glb")
    mesh = _single(trimesh.load(path))
    assert np.allclose(
        np.sort(mesh.vertices, axis=0), np.sort(textured.vertices, axis=0), atol=1e-6
    )
    assert mesh.visual.kind == "texture"
    assert np.asarray(mesh.visual.material.baseColorTexture).shape[:2] == (256, 256)


def test_obj_writes_material_and_texture_beside_it(textured, tmp_path):
    files = export_mesh(textured, tmp_path / "head.obj")
    assert {f.name for f in files} == {"head.obj", "head.mtl", "head.png"}
    assert "mtllib head.mtl" in (tmp_path / "head.obj").read_text()
    mesh = _single(trimesh.load(tmp_path / "head.obj"))
    assert mesh.visual.kind == "texture" and len(mesh.faces) == len(textured.faces)


def test_ply_carries_vertex_colours(textured, tmp_path):
    (path,) = export_mesh(textured, tmp_path / "head.ply")
    mesh = trimesh.load(path)
    colours = mesh.visual.vertex_colors[:, :3].astype(float)
    assert colours.std() > 5  # the pattern, not one flat colour


def test_unknown_format_is_refused(textured, tmp_path):
    with pytest.raises(ValueError, match="unsupported mesh format"):
        export_mesh(textured, tmp_path / "head.fbx")


def test_mesh_command_on_the_fixture_generator(shared_dir, tmp_path, capsys):
    ckpt = shared_dir / "fixtures" / "panohead_tiny" / "G_tiny.pkl"
    out = tmp_path / "head.glb"
    # The fixture's random weights have no surface at PanoHead's level 10; level 0 has one.
    code = main(
        [
            "mesh",
            "--checkpoint",
            str(ckpt),
            "--seed",
            "0",
            "--resolution",
            "64",
            "--faces",
            "4000",
            "--texture",
            "256",
            "--views",
            "2",
            "--level",
            "0",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    assert code == 0 and out.is_file()
    printed = capsys.readouterr().out
    assert "faces" in printed and "stage times" in printed
    mesh = _single(trimesh.load(out))
    assert 3000 <= len(mesh.faces) <= 4000 and mesh.visual.kind == "texture"
    assert main(["mesh", "--checkpoint", str(ckpt), "--out", str(tmp_path / "x.stl")]) == 2
