"""The rig's one array layout: rig.npz, the 'bind' reply, and the checks on both."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backend.common import rig_arrays
from backend.common.errors import PanoRigError
from backend.rigging import Fit, Rig, load_rig, rig_fields, save_rig

FLAME_JOINTS = ("root", "neck", "jaw", "eye_L", "eye_R")
# The keys rig.npz has always had: files written before the layout module must stay readable.
RIG_NPZ_KEYS = {
    "vertices", "faces", "weights", "joints", "parents", "joint_names", "expressions",
    "expression_names", "pose_correctives", "model_name", "release", "matched", "fit_scale",
    "fit_offset", "fit_shape", "fit_expression", "fit_residual", "fit_head_size",
}  # fmt: skip


def synthetic_fields(vertices: int = 12, seed: int = 0) -> dict:
    """A small FLAME-layout rig (5 joints, 3 expressions, 36 correctives) as layout fields."""
    rng = np.random.default_rng(seed)
    weights = rng.random((vertices, 5))
    return {
        "vertices": rng.normal(size=(vertices, 3)).astype(np.float32),
        "faces": np.array([[0, 1, 2], [2, 3, 0]], np.int32),
        "weights": (weights / weights.sum(1, keepdims=True)).astype(np.float32),
        "joints": rng.normal(scale=0.1, size=(5, 3)).astype(np.float32),
        "parents": (-1, 0, 1, 1, 1),
        "joint_names": FLAME_JOINTS,
        "expressions": rng.normal(scale=0.01, size=(3, vertices, 3)).astype(np.float32),
        "expression_names": ("exp_000", "exp_001", "exp_002"),
        "pose_correctives": rng.normal(scale=0.01, size=(36, vertices, 3)).astype(np.float32),
        "model_name": "FLAME 2020",
        "release": "flame2020",
        "matched": rng.random(vertices) < 0.75,
        "fit_scale": 2.5,
        "fit_offset": np.array([0.1, -0.2, 0.3]),
        "fit_shape": rng.normal(size=10),
        "fit_expression": np.zeros(3),
        "fit_residual": 0.002,
        "fit_head_size": 0.25,
    }


def _rig(fields: dict) -> Rig:
    fit = Fit(**{k.removeprefix("fit_"): v for k, v in fields.items() if k.startswith("fit_")})
    return Rig(fit=fit, **{k: v for k, v in fields.items() if not k.startswith("fit_")})


def _assert_same_rig(a: Rig, b: Rig) -> None:
    for name, value in vars(a).items():
        if name == "fit":
            for key, number in vars(value).items():
                np.testing.assert_allclose(getattr(b.fit, key), number, err_msg=key)
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(b, name), value, err_msg=name)
        else:
            assert getattr(b, name) == value, name


def test_rig_file_is_written_at_exactly_the_path_given(tmp_path):
    rig = _rig(synthetic_fields())
    written = save_rig(rig, tmp_path / "out" / "rigfile")  # no .npz suffix: none is added
    assert written == tmp_path / "out" / "rigfile"
    assert sorted(p.name for p in written.parent.iterdir()) == ["rigfile"]  # no partial left
    _assert_same_rig(rig, load_rig(written))
    with np.load(written) as npz:
        assert set(npz.files) == RIG_NPZ_KEYS
    # Saving again replaces the file whole.
    other = _rig(synthetic_fields(seed=1))
    save_rig(other, written)
    _assert_same_rig(other, load_rig(written))


def test_rig_file_written_by_the_old_code_loads(tmp_path):
    # Before the layout module, the fit's numbers were float32 and parents int32.
    arrays = rig_arrays.to_npz(synthetic_fields())
    for key in ("fit_scale", "fit_residual", "fit_head_size"):
        arrays[key] = np.float32(arrays[key])
    np.savez_compressed(tmp_path / "rig.npz", **arrays)
    rig = load_rig(tmp_path / "rig.npz")
    assert rig.parents == (-1, 0, 1, 1, 1) and rig.joint_names == FLAME_JOINTS
    assert rig.fit.scale == 2.5 and rig.model_name == "FLAME 2020"


def test_rig_fields_cover_the_layout():
    fields = synthetic_fields()
    assert set(rig_fields(_rig(fields))) == set(rig_arrays.FIELDS) == RIG_NPZ_KEYS


def test_reply_keeps_its_field_names_and_round_trips():
    fields = synthetic_fields()
    data, arrays = rig_arrays.to_reply(fields)
    assert set(arrays) == {"weights", "joints", "parents", "expressions", "pose_correctives"}
    assert set(data) == {
        "model_name", "release", "joint_names", "expression_names", "scale", "offset",
        "residual", "relative_residual", "matched",
    }  # fmt: skip
    json.dumps(data)  # plain JSON types only
    assert data["joint_names"] == list(FLAME_JOINTS) and data["offset"] == [0.1, -0.2, 0.3]
    assert data["relative_residual"] == pytest.approx(0.002 / 0.25)
    assert data["matched"] == int(fields["matched"].sum())
    assert arrays["parents"].dtype == np.int32 and arrays["weights"].dtype == np.float32
    back = rig_arrays.from_reply(data, arrays)
    assert set(back) == set(rig_arrays.REPLY_FIELDS)
    np.testing.assert_array_equal(back["pose_correctives"], fields["pose_correctives"])
    assert back["expression_names"] == fields["expression_names"] and back["fit_scale"] == 2.5


def test_damaged_rigs_are_refused_with_the_field_named():
    fields = synthetic_fields()
    data, arrays = rig_arrays.to_reply(fields)
    with pytest.raises(PanoRigError, match="no 'weights'"):
        rig_arrays.from_reply(data, {k: v for k, v in arrays.items() if k != "weights"})
    bad = dict(arrays, joints=arrays["joints"][:4])
    with pytest.raises(PanoRigError, match=r"'joints' has shape \(4, 3\), expected \(J=5, 3\)"):
        rig_arrays.from_reply(data, bad)
    bad = dict(arrays, pose_correctives=arrays["pose_correctives"][:30])
    with pytest.raises(PanoRigError, match="30 pose correctives for 5 joints"):
        rig_arrays.from_reply(data, bad)
    with pytest.raises(PanoRigError, match="'expression_names' has shape") as info:
        rig_arrays.to_npz(dict(fields, expression_names=("exp_000",)))
    assert "bind the head again" in info.value.hint
    with pytest.raises(PanoRigError, match="'weights' is not array data"):
        rig_arrays.to_npz(dict(fields, weights=np.full(fields["weights"].shape, "a")))
    # A rig without pose correctives (the open template's) is valid.
    no_correctives = dict(arrays, pose_correctives=np.zeros((0, 12, 3), np.float32))
    assert len(rig_arrays.from_reply(data, no_correctives)["pose_correctives"]) == 0
