"""Fitting the open template to a head made from itself, and transferring the rig."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from backend.rigging import fit_model, load_rig, save_rig, skin, transfer
from backend.rigging.fit import identity_basis
from backend.rigging.template import build_template


@pytest.fixture(scope="module")
def model():
    return build_template()


@pytest.fixture(scope="module")
def target(model):
    """The template with a random identity, under a known similarity, with a little noise.

    The identity uses the fit's similarity-free basis: size and position belong to the
    similarity being recovered (see fit.identity_basis)."""
    rng = np.random.default_rng(7)
    shape = np.zeros(model.num_shapes, np.float32)
    chosen = rng.choice(model.num_shapes, size=12, replace=False)
    shape[chosen] = rng.uniform(-0.5, 0.5, size=12)
    rest = model.vertices + identity_basis(model) @ shape
    scale = rng.uniform(2.0, 3.0)  # generator units per metre
    offset = rng.uniform(-0.05, 0.05, size=3)
    # A generated head is a skin surface: no eyeballs, teeth, tongue or joint locators.
    skin = np.zeros(len(model.vertices), bool)
    skin[model.regions["skin"]] = True
    faces = model.faces[skin[model.faces].all(axis=1)]
    used = np.unique(faces)
    remap = np.full(len(model.vertices), -1)
    remap[used] = np.arange(len(used))
    vertices = scale * rest[used] + offset
    height = np.ptp(vertices[:, 1])
    vertices = vertices + rng.normal(scale=0.001 * height, size=vertices.shape)
    faces = remap[faces]
    normals = trimesh.Trimesh(vertices, faces, process=False).vertex_normals
    return {
        "vertices": vertices.astype(np.float32),
        "faces": faces.astype(np.int32),
        "normals": np.asarray(normals, np.float32),
        "scale": scale,
        "offset": offset,
        "used": used,
        "shape": shape,
    }


@pytest.fixture(scope="module")
def fitted(model, target):
    return fit_model(model, target["vertices"], target["faces"])


def test_fit_recovers_the_similarity_and_fits_the_surface(fitted, target):
    print(
        f"scale {fitted.scale:.4f} (true {target['scale']:.4f}), residual "
        f"{fitted.relative_residual:.3%} of head height"
    )
    assert abs(fitted.scale / target["scale"] - 1) < 0.02
    assert np.linalg.norm(fitted.offset - target["offset"]) < 0.02 * fitted.head_size
    assert fitted.relative_residual < 0.01


def test_transfer_drives_expressions_like_the_model(model, target, fitted):
    rig = transfer(model, fitted, target["vertices"], target["faces"], target["normals"])
    assert np.isfinite(rig.weights).all()
    assert np.allclose(rig.weights.sum(1), 1, atol=1e-5) and (rig.weights >= 0).all()
    errors = {}
    face = np.isin(target["used"], model.regions["face"])
    for name in ("jawOpen", "mouthSmileLeft", "eyeBlinkLeft", "browInnerUp"):
        k = model.expression_names().index(name)
        truth = target["scale"] * model.expr_basis[target["used"], :, k]
        magnitude = np.linalg.norm(truth, axis=1)
        moving = face & (magnitude > 0.1 * magnitude.max())
        error = np.linalg.norm(rig.expressions[k][moving] - truth[moving], axis=1)
        errors[name] = error.mean() / magnitude[moving].mean()
    print("relative expression transfer errors:", errors)
    assert max(errors.values()) < 0.10
    # Weights follow the model's (same surface): small mean difference.
    assert np.abs(rig.weights - model.weights[target["used"]]).mean() < 0.05


def test_jaw_pose_moves_the_mouth_region(model, target, fitted):
    rig = transfer(model, fitted, target["vertices"], target["faces"], target["normals"])
    jaw = rig.joint_names.index("jaw")
    moved = rig.weights[:, jaw] > 0.5
    assert moved.sum() > 50
    # Blend skinning of the bound head by the same formula as the model's own LBS.
    pose = np.zeros((len(rig.joint_names), 3), np.float32)
    pose[jaw, 0] = 0.3
    rest_model, _ = skin(model, shape=fitted.shape)
    posed_model, _ = skin(model, shape=fitted.shape, pose=pose)
    delta_model = (posed_model - rest_model).numpy()[target["used"]] * target["scale"]
    assert np.linalg.norm(delta_model[moved], axis=1).mean() > 0.005


def test_rig_file_round_trip(model, target, fitted, tmp_path):
    rig = transfer(model, fitted, target["vertices"], target["faces"], target["normals"])
    again = load_rig(save_rig(rig, tmp_path / "rig.npz"))
    assert again.joint_names == rig.joint_names and again.expression_names == rig.expression_names
    assert np.array_equal(again.weights, rig.weights)
    assert again.fit.scale == pytest.approx(rig.fit.scale)


def test_unmatched_parts_get_weights_by_inpainting(model, fitted, target):
    """A 'hair' blob glued on top: no model surface near it, yet every vertex is weighted."""
    hair = trimesh.creation.icosphere(subdivisions=3, radius=0.3 * fitted.head_size)
    top = target["vertices"][:, 1].max()
    hair.apply_translation([0, top, 0])
    vertices = np.concatenate([target["vertices"], hair.vertices]).astype(np.float32)
    faces = np.concatenate([target["faces"], hair.faces + len(target["vertices"])])
    normals = trimesh.Trimesh(vertices, faces, process=False).vertex_normals
    rig = transfer(model, fitted, vertices, faces, np.asarray(normals, np.float32))
    blob = slice(len(target["vertices"]), None)
    assert np.allclose(rig.weights[blob].sum(1), 1, atol=1e-5)
    assert np.abs(rig.expressions[:, blob]).max() < 1e-6  # expressions fade to zero there


def test_rig_command_binds_an_exported_head(tmp_path, capsys):
    import torch

    from backend.cli import main
    from backend.export import export_mesh
    from backend.geometry import GridRegion, extract_mesh

    from .analytic_head import AnalyticHead

    mesh = extract_mesh(
        AnalyticHead(),
        torch.zeros(1, 1, 1),
        resolution=64,
        region=GridRegion(0.0, -0.3),
        target_faces=4000,
    )
    export_mesh(mesh, tmp_path / "head.glb")
    assert (
        main(
            [
                "rig",
                "--mesh",
                str(tmp_path / "head.glb"),
                "--model",
                "template",
                "--out",
                str(tmp_path / "rig.npz"),
            ]
        )
        == 0
    )
    assert "residual" in capsys.readouterr().out
    rig = load_rig(tmp_path / "rig.npz")
    assert rig.weights.shape == (len(mesh.vertices), 5) and len(rig.expression_names) == 52
    assert main(["rig", "--mesh", str(tmp_path / "missing.glb"), "--out", "x.npz"]) == 2
