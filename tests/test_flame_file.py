"""FLAME model files: restricted unpickling, validation, release detection, kinematics.

No FLAME data is used: every file is a small synthetic head (an ellipsoid plus two eyeballs) in
FLAME's layout, written the way the official releases are written. The pickles are produced by
a pure-Python pickler that spells globals as old files do (``chumpy.ch.Ch``,
``scipy.sparse.csc.csc_matrix``, ``__builtin__.set``, Python 2 byte strings, NumPy 2's
``numpy._core``), so neither chumpy nor Python 2 nor NumPy 2 is needed.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import pickletools
import struct
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import trimesh.creation
from scipy.spatial.transform import Rotation

from backend.rigging import flame_file
from backend.rigging.errors import RigModelError
from backend.rigging.flame_file import load_flame
from backend.rigging.lbs import skin
from backend.unpickling import Allowed

V_HEAD, V_EYE = 162, 42
V = V_HEAD + 2 * V_EYE
LEFT_EYE = np.arange(V_HEAD, V_HEAD + V_EYE)  # subject's left = +x
RIGHT_EYE = np.arange(V_HEAD + V_EYE, V)
PARENTS = (-1, 0, 1, 1, 1)
NUMPY2 = {
    "numpy.core.multiarray": "numpy._core.multiarray",
    "numpy.core.numeric": "numpy._core.numeric",
}
PY2 = {"builtins": "__builtin__"}


# --- synthetic FLAME-layout model --------------------------------------------------------------


def _flame_dict(columns: int = 400, eyes: bool = True, seed: int = 0) -> dict:
    """FLAME's keys on a 246-vertex head; J_regressor dense (the writers convert it)."""
    rng = np.random.default_rng(seed)
    head = trimesh.creation.icosphere(subdivisions=2)
    parts = [head.vertices * (0.08, 0.16, 0.11) + (0.0, -0.03, -0.02)]
    faces = [head.faces]
    if eyes:
        eye = trimesh.creation.icosphere(subdivisions=1)
        for i, x in enumerate((0.0317, -0.0317)):
            parts.append(eye.vertices * 0.0125 + (x, 0.0214, 0.026))
            faces.append(eye.faces + V_HEAD + i * V_EYE)
    v = np.concatenate(parts)
    n = len(v)
    y, z = v[:, 1], v[:, 2]
    weights = np.zeros((n, 5))
    jaw = np.clip((-0.06 - y) / 0.05, 0, 1) * (z > -0.02)
    root = np.clip((-0.15 - y) / 0.03, 0, 1) * (1 - jaw)
    weights[:V_HEAD, 0], weights[:V_HEAD, 2] = root[:V_HEAD], jaw[:V_HEAD]
    weights[:V_HEAD, 1] = 1 - jaw[:V_HEAD] - root[:V_HEAD]
    regressor = np.zeros((5, n))
    regressor[0, :V_HEAD] = y[:V_HEAD] < -0.15
    regressor[1, :V_HEAD] = y[:V_HEAD] < -0.03
    regressor[2] = jaw > 0.5
    if eyes:
        weights[LEFT_EYE, 3] = weights[RIGHT_EYE, 4] = 1
        regressor[3, LEFT_EYE] = regressor[4, RIGHT_EYE] = 1
    else:
        regressor[3:, :V_HEAD] = y[:V_HEAD] > 0.1
    regressor /= regressor.sum(1, keepdims=True)
    return {
        "v_template": v,
        "f": np.concatenate(faces).astype(np.uint32),
        "shapedirs": rng.normal(0, 1e-3, (n, 3, columns)),
        "posedirs": rng.normal(0, 1e-3, (n, 3, 36)),
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": np.array([[2**32 - 1, 0, 1, 1, 1], [0, 1, 2, 3, 4]], np.uint32),
        "J": regressor @ v,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


# --- writers that spell globals as the official files do --------------------------------------


class _Ch:
    """Pickles as chumpy's ``Ch``: its attribute dict minus caches, the array under 'x'."""

    pickled_as = ("chumpy.ch", "Ch")

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self._dirty_vars = {"x"}  # a set: Python 2 pickles name __builtin__.set for it
        self._itr = None
        self._make_dense = False
        self._make_sparse = False
        self._depends_on_deps = {}


class _OldCsc:
    """Pickles as ``scipy.sparse.csc.csc_matrix`` (scipy < 1.8) with scipy's attribute dict."""

    pickled_as = ("scipy.sparse.csc", "csc_matrix")

    def __init__(self, matrix: sp.csc_matrix) -> None:
        self.__dict__.update(matrix.__dict__)
        self.format = "csc"


def _disguised(pickled_as: tuple[str, str]) -> object:
    """An object whose class the pickle names as ``pickled_as`` (NEWOBJ + BUILD)."""
    disguised = type("Disguised", (), {"pickled_as": pickled_as})()
    disguised.x = np.zeros(3)
    return disguised


class _Payload:
    """Unpickling calls os.system and creates ``marker``: live unless the loader refuses it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _CraftPickler(pickle._Pickler):
    """Pure-Python pickler with renamed globals and, optionally, Python 2 byte strings."""

    dispatch = pickle._Pickler.dispatch.copy()

    def __init__(self, file, protocol: int, renames: dict | None = None, py2: bool = False):
        super().__init__(file, protocol, fix_imports=False)
        self.renames = renames or {}
        self.py2 = py2

    def save_global(self, obj, name=None):
        module, qualname = getattr(obj, "pickled_as", None) or (obj.__module__, obj.__qualname__)
        module = self.renames.get(module, module)
        if self.proto >= 4:
            self.save(module)
            self.save(qualname)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode())
        self.memoize(obj)

    def _save_bytes(self, obj: bytes) -> None:
        if not self.py2:
            return pickle._Pickler.save_bytes(self, obj)
        # Python 2 wrote byte strings (array data) as str: BINSTRING, read back as latin-1 text.
        self.write(pickle.BINSTRING + struct.pack("<I", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_bytes
    dispatch[types.FunctionType] = save_global  # the base table points at the base method


def _craft(obj, protocol: int = 2, renames: dict | None = None, py2: bool = False) -> bytes:
    buffer = io.BytesIO()
    _CraftPickler(buffer, protocol, renames, py2).dump(obj)
    return buffer.getvalue()


def _as_2020(d: dict) -> dict:
    """FLAME 2020 style: chumpy shapedirs (and J), old-path sparse J_regressor."""
    out = dict(d, shapedirs=_Ch(d["shapedirs"]), J=_Ch(d["J"]))
    out["J_regressor"] = _OldCsc(sp.csc_matrix(d["J_regressor"]))
    return out


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _write_2020(path: Path, d: dict) -> Path:
    return _write(path, _craft(_as_2020(d), 2, PY2, py2=True))


def _write_open(path: Path, d: dict, metadata: dict | None = None) -> Path:
    """FLAME 2023 Open style: plain arrays, scipy's current sparse path, NumPy 2 spellings."""
    meta = metadata or {"n_expr": np.int64(100), "expr_components": "last_100"}
    out = dict(d, J_regressor=sp.csc_matrix(d["J_regressor"]), supr_expression_metadata=meta)
    return _write(path, _craft(out, 5, NUMPY2))


# --- reading -------------------------------------------------------------------------------------


def _assert_matches(model, d: dict, n_identity: int = 300) -> None:
    np.testing.assert_allclose(model.vertices, d["v_template"], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(model.faces, d["f"])
    shapedirs = d["shapedirs"].astype(np.float32)
    np.testing.assert_array_equal(model.shape_basis, shapedirs[:, :, :n_identity])
    np.testing.assert_array_equal(model.expr_basis, shapedirs[:, :, n_identity:])
    np.testing.assert_array_equal(model.pose_basis, d["posedirs"].astype(np.float32))
    np.testing.assert_allclose(model.joint_regressor, d["J_regressor"], rtol=1e-6)
    np.testing.assert_allclose(model.weights, d["weights"], rtol=1e-6)
    for array in (model.vertices, model.shape_basis, model.expr_basis, model.pose_basis):
        assert array.dtype == np.float32
    assert model.faces.dtype == np.int32 and model.joint_regressor.dtype == np.float32
    assert model.parents == PARENTS


def test_flame2020_chumpy_pickle(tmp_path: Path) -> None:
    d = _flame_dict()
    data = _craft(_as_2020(d), 2, PY2, py2=True)
    ops = {op.name for op, _, _ in pickletools.genops(data)}
    # Really Python-2 shaped: byte strings as str, the globals the official files name.
    assert "BINSTRING" in ops and "BINBYTES" not in ops
    for spelled in (b"chumpy.ch\nCh", b"scipy.sparse.csc\ncsc_matrix", b"__builtin__\nset"):
        assert spelled in data
    model = load_flame(_write(tmp_path / "generic_model.pkl", data))
    _assert_matches(model, d)
    assert (model.release, model.name) == ("flame2020", "FLAME 2020")
    assert (model.num_shapes, model.num_expressions) == (300, 100)
    assert model.expression_names()[:2] == ("exp_000", "exp_001")


def test_flame2023_open_pickle(tmp_path: Path) -> None:
    d = _flame_dict()
    path = _write_open(tmp_path / "flame2023_Open.pkl", d)
    assert b"numpy._core.numeric" in path.read_bytes() and b"chumpy" not in path.read_bytes()
    model = load_flame(path)
    _assert_matches(model, d)
    assert (model.release, model.name) == ("flame2023_open", "FLAME 2023 Open")


def test_plain_python3_pickle(tmp_path: Path) -> None:
    """What a user gets re-saving the dict with pickle.dump (protocol 2: _codecs.encode bytes)."""
    d = _flame_dict()
    data = pickle.dumps(dict(d, J_regressor=sp.csc_matrix(d["J_regressor"])), protocol=2)
    assert b"_codecs" in data
    _assert_matches(load_flame(_write(tmp_path / "flame2023.pkl", data)), d)


@pytest.mark.parametrize("protocol", [2, 5])
@pytest.mark.parametrize("renames", [{}, NUMPY2], ids=["numpy.core", "numpy._core"])
def test_numpy_1_and_2_spellings(tmp_path: Path, protocol: int, renames: dict) -> None:
    d = _flame_dict()
    data = _craft(dict(d, J_regressor=sp.csc_matrix(d["J_regressor"])), protocol, renames)
    function = b"_reconstruct" if protocol == 2 else b"_frombuffer"
    core = b"numpy._core" if renames else b"numpy.core."
    assert function in data and core in data
    _assert_matches(load_flame(_write(tmp_path / "m.pkl", data)), d)


def test_npz_exports(tmp_path: Path) -> None:
    d = _flame_dict()
    np.savez(tmp_path / "flame2023_no_jaw.npz", **d)
    model = load_flame(tmp_path / "flame2023_no_jaw.npz")
    _assert_matches(model, d)
    assert (model.release, model.name) == ("flame2023_no_jaw", "FLAME 2023 (no jaw)")
    # the CSC triple instead of a dense J_regressor
    csc = sp.csc_matrix(d["J_regressor"])
    triple = {k: v for k, v in d.items() if k != "J_regressor"}
    triple.update(
        J_regressor_data=csc.data, J_regressor_indices=csc.indices, J_regressor_indptr=csc.indptr
    )
    np.savez_compressed(tmp_path / "triple.npz", **triple)
    _assert_matches(load_flame(tmp_path / "triple.npz"), d)


@pytest.mark.parametrize(
    ("file_name", "release", "name"),
    [
        ("generic_model.pkl", "flame2020", "FLAME 2020"),
        ("female_model.pkl", "flame2020", "FLAME 2020 (female)"),
        ("male_model.pkl", "flame2020", "FLAME 2020 (male)"),
        ("flame2023.pkl", "flame2023", "FLAME 2023"),
        ("flame2023_no_jaw.pkl", "flame2023_no_jaw", "FLAME 2023 (no jaw)"),
        ("FLAME2023_Open.pkl", "flame2023_open", "FLAME 2023 Open"),
        ("my_head_model.pkl", "flame_unknown", "FLAME (unknown release)"),
    ],
)
def test_release_from_file_name(tmp_path: Path, file_name: str, release: str, name: str) -> None:
    model = load_flame(_write_2020(tmp_path / file_name, _flame_dict()))
    assert (model.release, model.name) == (release, name)


def test_release_from_metadata_and_argument(tmp_path: Path) -> None:
    path = _write_open(tmp_path / "generic_model.pkl", _flame_dict())
    assert load_flame(path).release == "flame2023_open"  # metadata beats the file name
    assert load_flame(path, release="flame2020").release == "flame2020"  # the argument wins
    assert load_flame(path, release="flame2020").name == "FLAME 2020"


def test_expression_split(tmp_path: Path) -> None:
    small = _flame_dict(columns=30)
    model = load_flame(_write_2020(tmp_path / "generic_model.pkl", small))
    assert (model.num_shapes, model.num_expressions) == (30, 0)  # <= 300 columns: identity only
    d = _flame_dict()
    meta = {"n_expr": 150, "expr_components": "last_150", "supr_gender": "neutral"}
    model = load_flame(_write_open(tmp_path / "open.pkl", d, meta))
    assert (model.num_shapes, model.num_expressions) == (250, 150)  # metadata wins
    np.testing.assert_array_equal(model.expr_basis, d["shapedirs"][:, :, 250:].astype(np.float32))
    bad = {"n_expr": 100, "expr_components": "first_100"}
    with pytest.raises(RigModelError, match="first_100"):
        load_flame(_write_open(tmp_path / "bad.pkl", d, bad))


def test_regions(tmp_path: Path) -> None:
    model = load_flame(_write_2020(tmp_path / "generic_model.pkl", _flame_dict()))
    regions = model.regions
    np.testing.assert_array_equal(regions["eyeball_left"], LEFT_EYE)
    np.testing.assert_array_equal(regions["eyeball_right"], RIGHT_EYE)
    np.testing.assert_array_equal(regions["skin"], np.arange(V_HEAD))
    parts = [regions[k] for k in ("face", "neck", "scalp")]
    assert all(len(p) for p in parts)
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(V_HEAD))  # partition
    v = model.vertices
    assert v[regions["neck"], 1].max() < v[regions["face"], 1].min()
    assert v[regions["face"], 2].min() > v[:V_HEAD, 2].mean()
    assert v[regions["scalp"], 1].max() == v[:V_HEAD, 1].max()  # the crown is scalp
    assert v[regions["neck"], 1].min() == v[:V_HEAD, 1].min()
    # a head without eyeballs gets no eyeball regions
    bare = load_flame(_write_2020(tmp_path / "bare.pkl", _flame_dict(eyes=False)))
    assert "eyeball_left" not in bare.regions and len(bare.regions["skin"]) == V_HEAD


# --- kinematics ---------------------------------------------------------------------------------


def _flame_reference(d: dict, shape, expression, pose) -> np.ndarray:
    """FLAME's formula in float64, written independently of lbs.py (4x4 transforms)."""
    rest = d["v_template"] + d["shapedirs"] @ np.concatenate([shape, expression])
    joints = d["J_regressor"] @ rest
    rot = Rotation.from_rotvec(pose).as_matrix()
    rest = rest + d["posedirs"] @ (rot[1:] - np.eye(3)).reshape(-1)
    world = np.zeros((5, 4, 4))
    for k, parent in enumerate(PARENTS):
        local = np.eye(4)
        local[:3, :3] = rot[k]
        local[:3, 3] = joints[k] - (joints[parent] if parent >= 0 else 0)
        world[k] = local if parent < 0 else world[parent] @ local
    unrest = np.tile(np.eye(4), (5, 1, 1))
    unrest[:, :3, 3] = -joints
    blended = np.einsum("vk,kab->vab", d["weights"], world @ unrest)
    homogeneous = np.concatenate([rest, np.ones((len(rest), 1))], axis=1)
    return np.einsum("vab,vb->va", blended, homogeneous)[:, :3]


def test_skinning_matches_flame_formula(tmp_path: Path) -> None:
    d = _flame_dict()
    model = load_flame(_write_2020(tmp_path / "generic_model.pkl", d))
    rng = np.random.default_rng(1)
    shape, expression = rng.normal(0, 1, 300), rng.normal(0, 1, 100)
    pose = rng.normal(0, 0.3, (5, 3))
    posed, _ = skin(model, shape=shape, expression=expression, pose=pose)
    expected = _flame_reference(d, shape, expression, pose)
    assert np.abs(expected - _flame_reference(d, shape, expression, 0 * pose)).max() > 0.01
    np.testing.assert_allclose(posed.numpy(), expected, atol=2e-5)


def test_jaw_rotation_moves_only_jaw_weighted_vertices(tmp_path: Path) -> None:
    model = load_flame(_write_2020(tmp_path / "generic_model.pkl", _flame_dict()))
    # Without correctives (which move every vertex a little) only the jaw's vertices may move.
    model = dataclasses.replace(model, pose_basis=np.zeros((V, 3, 0), np.float32))
    pose = np.zeros((5, 3))
    pose[2, 0] = 0.3
    posed, joints = skin(model, pose=pose)
    rest, rest_joints = skin(model)
    moved = np.linalg.norm((posed - rest).numpy(), axis=1)
    jaw = model.weights[:, 2]
    assert (jaw == 0).sum() > 50 and (jaw > 0.2).sum() > 5
    assert moved[jaw == 0].max() < 1e-6
    assert moved[jaw > 0.2].min() > 1e-3
    np.testing.assert_allclose(joints.numpy(), rest_joints.numpy(), atol=1e-7)


# --- refusals -----------------------------------------------------------------------------------


def test_refuses_os_system(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    data = pickle.dumps(_Payload(marker), protocol=2)
    path = _write(tmp_path / "generic_model.pkl", data)
    with pytest.raises(RigModelError, match=r"refusing global '(posix|os|nt)\.system'") as info:
        load_flame(path)
    assert "nothing in it was executed" in str(info.value)
    assert info.value.hint and str(info.value).endswith(info.value.hint)
    assert not marker.exists()
    pickle.loads(data)  # the payload is live: a plain unpickler runs it
    assert marker.exists()


@pytest.mark.parametrize(
    "pickled_as",
    [("subprocess", "Popen"), ("builtins", "eval"), ("chumpyx.ch", "Ch"), ("numpy", "load")],
)
def test_refuses_forbidden_class_of_shapedirs(tmp_path: Path, pickled_as) -> None:
    data = _craft(dict(_as_2020(_flame_dict()), shapedirs=_disguised(pickled_as)))
    with pytest.raises(RigModelError, match=f"refusing global '{'.'.join(pickled_as)}'"):
        load_flame(_write(tmp_path / "generic_model.pkl", data))


def test_refuses_payload_as_shapedirs(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    data = _craft(dict(_as_2020(_flame_dict()), shapedirs=_Payload(marker)), 2, PY2, py2=True)
    with pytest.raises(RigModelError, match="refusing global"):
        load_flame(_write(tmp_path / "generic_model.pkl", data))
    assert not marker.exists()


def _layout_cases() -> list:
    d = _flame_dict()
    faces = d["f"].copy()
    faces[0, 0] = V
    nan = d["v_template"].copy()
    nan[3, 1] = np.nan
    kintree = d["kintree_table"].copy()
    kintree[0, 4] = 2
    return [
        ({k: v for k, v in d.items() if k != "posedirs"}, r"lacks the FLAME key\(s\) posedirs"),
        (
            {**d, "posedirs": d["posedirs"][:, :, :35]},
            r"'posedirs'.*\(246, 3, 35\).*\(246, 3, 36\)",
        ),
        ({**d, "shapedirs": d["shapedirs"][:, :, 0]}, r"'shapedirs'.*\(246, 3\).*\(246, 3, K\)"),
        ({**d, "shapedirs": d["shapedirs"][:, :, :0]}, r"'shapedirs'.*\(246, 3, 0\)"),
        ({**d, "v_template": d["v_template"][:, :2]}, r"'v_template'.*\(246, 2\).*\(V, 3\)"),
        ({**d, "J_regressor": d["J_regressor"][:, 1:]}, r"'J_regressor'.*\(5, 245\).*\(5, 246\)"),
        ({**d, "weights": d["weights"] * 2}, "'weights'"),
        ({**d, "f": faces}, "'f' .*vertex 246"),
        ({**d, "f": d["f"].astype(np.float64)}, "'f' .*integer"),
        ({**d, "v_template": nan}, "'v_template' .*NaN"),
        ({**d, "kintree_table": kintree}, "'kintree_table'"),
        ({**d, "bs_type": "dqs"}, "'bs_type'"),
        ({**d, "posedirs": [1.0, 2.0]}, "'posedirs' .*list"),
    ]


@pytest.mark.parametrize(("entries", "message"), _layout_cases())
def test_refuses_bad_layout(tmp_path: Path, entries: dict, message: str) -> None:
    path = _write(tmp_path / "generic_model.pkl", pickle.dumps(entries, protocol=2))
    with pytest.raises(RigModelError, match=message):
        load_flame(path)


def test_refuses_bad_sparse_regressor(tmp_path: Path) -> None:
    d = _as_2020(_flame_dict())
    d["J_regressor"].indptr = d["J_regressor"].indptr[::-1].copy()
    path = _write(tmp_path / "generic_model.pkl", _craft(d, 2, PY2, py2=True))
    with pytest.raises(RigModelError, match="'J_regressor' .*not a valid sparse matrix"):
        load_flame(path)


def test_refuses_damaged_and_foreign_files(tmp_path: Path) -> None:
    data = _craft(_as_2020(_flame_dict()), 2, PY2, py2=True)
    for cut in (len(data) // 2, 40, len(data) - 1):
        with pytest.raises(RigModelError, match="truncated or damaged"):
            load_flame(_write(tmp_path / "generic_model.pkl", data[:cut]))
    np.savez(tmp_path / "full.npz", **_flame_dict())
    npz = (tmp_path / "full.npz").read_bytes()
    with pytest.raises(RigModelError, match="truncated or damaged"):
        load_flame(_write(tmp_path / "cut.npz", npz[: len(npz) // 2]))
    with pytest.raises(RigModelError, match="neither a pickle nor an .npz"):
        load_flame(_write(tmp_path / "notes.pkl", b"FLAME model, honest!\n"))
    with pytest.raises(RigModelError, match="is empty"):
        load_flame(_write(tmp_path / "empty.pkl", b""))
    with pytest.raises(RigModelError, match="not found"):
        load_flame(tmp_path / "missing.pkl")
    with pytest.raises(RigModelError, match="holds a list"):
        load_flame(_write(tmp_path / "list.pkl", pickle.dumps([1, 2], protocol=2)))
    np.savez(tmp_path / "objects.npz", **dict(_flame_dict(), shapedirs=np.array([{}, None])))
    with pytest.raises(RigModelError, match="stores Python objects"):
        load_flame(tmp_path / "objects.npz")


def _loader_state() -> list:
    """The attributes of every allowed global (of the function behind each wrapper)."""
    targets = [
        found.function if isinstance(found, Allowed) else found
        for found in flame_file._FlameUnpickler.allowed.values()
    ]
    return [(dict(vars(t)), getattr(t, "__defaults__", None)) for t in targets]


# BUILD with a slot state (setattr per key) and with a plain state (an update of __dict__).
HOSTILE_STATES = [(None, {"__defaults__": (["injected"],)}), {"__defaults__": (), "foo": 1}]


@pytest.mark.parametrize("state", HOSTILE_STATES, ids=["slot state", "dict state"])
@pytest.mark.parametrize(
    "name",
    [
        "numpy\nndarray",
        "numpy\ndtype",
        "scipy.sparse._csc\ncsc_matrix",
        "__builtin__\nset",
        "_codecs\nencode",
        "chumpy.ch\nCh",
    ],
)
def test_refuses_to_modify_the_loader(tmp_path: Path, name: str, state) -> None:
    """GLOBAL of an allowed name, then BUILD on it: refused, and nothing changes."""
    state_ops = pickle.dumps(state, protocol=2)[2:-1]  # without PROTO and STOP
    data = b"\x80\x02" + pickle.GLOBAL + f"{name}\n".encode() + state_ops + pickle.BUILD + b"."
    before = _loader_state()
    with pytest.raises(RigModelError, match="unexpected attempt to modify") as info:
        load_flame(_write(tmp_path / "generic_model.pkl", data))
    assert "nothing in it was executed" in info.value.hint
    assert _loader_state() == before
    assert flame_file._make_set.__defaults__ == ((),)
    d = _flame_dict()  # and the loader still reads real files
    _assert_matches(load_flame(_write_2020(tmp_path / "generic_model.pkl", d)), d)


def test_refuses_to_modify_built_objects(tmp_path: Path) -> None:
    """BUILD on a stub that takes no state (an ndarray token made with NEWOBJ) is refused."""
    data = b"\x80\x02cnumpy\nndarray\n)\x81}U\x03fooK\x01sb."
    assert [op.name for op, _, _ in pickletools.genops(data)][-3:] == ["SETITEM", "BUILD", "STOP"]
    with pytest.raises(RigModelError, match="unexpected attempt to modify a _NdarrayName object"):
        load_flame(_write(tmp_path / "generic_model.pkl", data))


def test_chumpy_state_must_be_a_dict(tmp_path: Path) -> None:
    data = b"\x80\x02cchumpy.ch\nCh\n)\x81]b."  # NEWOBJ, then BUILD with a list
    with pytest.raises(RigModelError, match="a chumpy.ch.Ch object has a state of type list"):
        load_flame(_write(tmp_path / "generic_model.pkl", data))
