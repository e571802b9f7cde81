"""Tests for the restricted reader of official PanoHead / EG3D snapshots.

Hostile and hand-made snapshots are written in the test with a small pickler that can name any
global (``_Ref``) without importing it, so nothing of upstream PanoHead/EG3D is needed.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import pickletools
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from backend.models import official_pickle
from backend.models.errors import CheckpointError, UnsafeCheckpointError
from backend.models.official_pickle import (
    OfficialSnapshot,
    is_official_snapshot,
    read_official_snapshot,
)
from backend.unpickling import Allowed

FIXTURES = ("panohead_tiny", "eg3d_tiny")
PLACEHOLDER_SRC = "raise RuntimeError('module source must never be executed')\n"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
SYS_INFO = {
    "protocol_version": 1001,
    "little_endian": True,
    "type_sizes": {"short": 2, "int": 4, "long": 4},
}


# --- a pickler that writes arbitrary globals by name --------------------------------------------


class _Ref:
    """A global written as GLOBAL / STACK_GLOBAL by name; never imported, never called here."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: Any) -> Any:
        raise AssertionError("a _Ref is only ever pickled")


class _Call:
    """Pickles as REDUCE(func, args), optionally followed by BUILD(state) / SETITEMS(items)."""

    def __init__(self, func: Any, *args: Any, state: Any = None, items: dict | None = None):
        self.func, self.args, self.state, self.items = func, args, state, items

    def __reduce__(self) -> tuple:
        items = iter(self.items.items()) if self.items is not None else None
        return self.func, self.args, self.state, None, items


class _Persistent:
    """Written as a persistent id (BINPERSID), like a storage inside a legacy torch.save blob."""

    def __init__(self, pid: tuple) -> None:
        self.pid = pid


class _Pickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table is extensible
    dispatch = dict(pickle._Pickler.dispatch)

    def persistent_id(self, obj: Any) -> Any:
        return obj.pid if isinstance(obj, _Persistent) else None

    def _save_ref(self, ref: _Ref) -> None:
        if self.proto >= 4:
            self.save(ref.module)
            self.save(ref.name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{ref.module}\n{ref.name}\n".encode())
        self.memoize(ref)

    dispatch[_Ref] = _save_ref


def _dumps(obj: Any, protocol: int = 4) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol).dump(obj)
    return buffer.getvalue()


def _globals_in(data: bytes) -> set[str]:
    """Names of the globals a pickle refers to (protocol 4 STACK_GLOBAL or GLOBAL)."""
    names, strings = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name == "STACK_GLOBAL":
            names.add(f"{strings[-2]}.{strings[-1]}")
        elif op.name == "GLOBAL":
            names.add(arg.replace(" ", "."))
        elif isinstance(arg, str):
            strings.append(arg)
    return names


def _persistent_module(class_name: str, state: dict) -> _Call:
    meta = {
        "type": "class",
        "version": 6,
        "module_src": PLACEHOLDER_SRC,
        "class_name": class_name,
        "state": state,
    }
    return _Call(_Ref("torch_utils.persistence", "_reconstruct_persistent_obj"), meta)


def _as_snapshot_module(module: nn.Module, **extra: Any) -> _Call:
    """A real torch module re-pickled the way torch_utils.persistence writes one."""
    state = dict(module.__dict__)  # includes every bookkeeping key of this torch version
    state["_modules"] = {
        name: None if child is None else _as_snapshot_module(child)
        for name, child in module._modules.items()
    }
    state.update(extra, _init_args=(), _init_kwargs={})
    return _persistent_module(type(module).__name__, state)


def _legacy_blob(values: np.ndarray, storage_object: Any = None, trailer: bytes = b"") -> bytes:
    """A legacy torch.save of one float32 storage, written by hand (see the research note)."""
    values = np.ascontiguousarray(values, dtype="<f4")
    if storage_object is None:
        storage_object = _Persistent(
            ("storage", _Ref("torch", "FloatStorage"), "0", "cpu", values.size, None)
        )
    parts = [
        pickle.dumps(LEGACY_MAGIC, protocol=2),
        pickle.dumps(1001, protocol=2),
        pickle.dumps(SYS_INFO, protocol=2),
        _dumps(storage_object, protocol=2),
        pickle.dumps(["0"], protocol=2),
        struct.pack("<q", values.size),
        values.tobytes(),
        trailer,
    ]
    return b"".join(parts)


def _hand_parameter(blob: bytes, size: tuple[int, ...]) -> _Call:
    stride = tuple(int(np.prod(size[i + 1 :])) for i in range(len(size)))
    tensor = _Call(
        _Ref("torch._utils", "_rebuild_tensor_v2"),
        _Call(_Ref("torch.storage", "_load_from_bytes"), blob),
        0,
        size,
        stride,
        False,
        OrderedDict(),
    )
    return _Call(_Ref("torch._utils", "_rebuild_parameter"), tensor, False, OrderedDict())


def _snapshot_file(tmp_path: Path, root: Any, name: str = "snapshot.pkl") -> Path:
    path = tmp_path / name
    path.write_bytes(_dumps({"training_set_kwargs": {}, "G": None, "G_ema": root}))
    return path


def _minimal_generator(**attrs: Any) -> _Call:
    state = {
        "training": False,
        "_parameters": OrderedDict(),
        "_buffers": OrderedDict(),
        "_non_persistent_buffers_set": set(),
        "_modules": OrderedDict(),
        "rendering_kwargs": {"box_warp": 1},
        "neural_rendering_resolution": 8,
        **attrs,
        "_init_args": (),
        "_init_kwargs": {},
    }
    return _persistent_module("TriPlaneGenerator", state)


# --- the fixture snapshots ----------------------------------------------------------------------


def _decode_tagged(value: Any) -> Any:
    """config.json's JSON tagging of module attributes -> what the reader must return."""
    if isinstance(value, dict):
        if "__numpy_scalar__" in value:
            return float(value["value"])
        if "__tuple__" in value:
            return tuple(_decode_tagged(v) for v in value["__tuple__"])
        if "__easydict__" in value:
            return _decode_tagged(value["__easydict__"])
        if "__tensor__" in value:
            spec = value["__tensor__"]
            return torch.tensor(spec["data"], dtype=getattr(torch, spec["dtype"])).reshape(
                spec["shape"]
            )
        return {k: _decode_tagged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_tagged(v) for v in value]
    return value


def _assert_same(actual: Any, expected: Any, where: str = "") -> None:
    """Equal values and identical plain types (tuple stays tuple, numpy scalar became float)."""
    assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    if isinstance(expected, torch.Tensor):
        assert actual.dtype == expected.dtype and torch.equal(actual, expected), where
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), where
        for key in expected:
            _assert_same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_same(a, e, f"{where}[{i}]")
    else:
        assert actual == expected, where


@pytest.fixture(scope="module")
def fixture_data(shared_dir: Path) -> dict[str, dict]:
    data = {}
    for name in FIXTURES:
        folder = shared_dir / "fixtures" / name
        with np.load(folder / "state_dict.npz") as npz:
            arrays = {key: npz[key] for key in npz.files}
        data[name] = {
            "pkl": folder / "G_tiny.pkl",
            "config": json.loads((folder / "config.json").read_text()),
            "state_dict": arrays,
        }
    return data


@pytest.fixture(scope="module")
def snapshots(fixture_data: dict[str, dict]) -> dict[tuple[str, str], OfficialSnapshot]:
    return {
        (name, network): read_official_snapshot(data["pkl"], network)
        for name, data in fixture_data.items()
        for network in ("G_ema", "G")
    }


@pytest.mark.parametrize("network", ["G_ema", "G"])
@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_tensors_match_state_dict(name, network, fixture_data, snapshots):
    data, snap = fixture_data[name], snapshots[name, network]
    expected = data["state_dict"]
    config = data["config"]
    # The npz was saved from state_dict(): its order is state_dict order, per module as in the tree.
    assert list(expected) == list(snap.tensors)
    assert set(expected) == set(config["parameter_names"]) | set(config["buffer_names"])
    for key, array in expected.items():
        tensor = snap.tensors[key]
        assert tensor.dtype == torch.float32 and tensor.is_contiguous()
        assert tensor.untyped_storage().nbytes() == tensor.numel() * 4  # owns exactly its data
        assert np.array_equal(tensor.numpy(), array), key
        assert tensor.numpy().tobytes() == array.astype("<f4").tobytes(), key  # bit-exact
    assert snap.parameter_names == frozenset(config["parameter_names"])


@pytest.mark.parametrize("network", ["G_ema", "G"])
@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_structure_and_attributes(name, network, fixture_data, snapshots):
    config, snap = fixture_data[name]["config"], snapshots[name, network]
    tree = [
        ("" if path == "<root>" else path, node["class_name"])
        for path, node in config["module_tree"].items()
    ]
    assert list(snap.class_tree.items()) == tree
    assert snap.class_tree[""] == "TriPlaneGenerator"

    expected_attrs = {
        ("" if path == "<root>" else path): {
            key: _decode_tagged(value)
            for key, value in attrs.items()
            if key not in ("_init_args", "_init_kwargs")
        }
        for path, attrs in config["module_attrs"].items()
    }
    _assert_same(snap.module_attrs, expected_attrs, "module_attrs")
    assert type(snap.module_attrs["backbone.mapping.fc0"]["weight_gain"]) is float

    _assert_same(snap.init_kwargs, config["init_kwargs"], "init_kwargs")  # EasyDicts -> dict
    assert snap.init_args == tuple(config["init_args"]) == ()
    rendering = dict(config["attr_rendering_kwargs"])
    if name == "panohead_tiny":
        rendering["density_noise"] = 0  # the release adds it to the attribute, not to init
    _assert_same(snap.rendering_kwargs, rendering, "rendering_kwargs")
    assert snap.neural_rendering_resolution == config["attr_neural_rendering_resolution"]
    assert snap.neural_rendering_resolution == {"panohead_tiny": 16, "eg3d_tiny": 20}[name]
    assert snap.plane_axes is not None and snap.plane_axes.dtype == torch.float32
    assert torch.equal(snap.plane_axes, torch.tensor(config["renderer_plane_axes"]))


def test_fixture_files_use_the_documented_globals(fixture_data):
    panohead = _globals_in(fixture_data["panohead_tiny"]["pkl"].read_bytes())
    assert "numpy.core.multiarray.scalar" in panohead and len(panohead) == 11
    eg3d = _globals_in(fixture_data["eg3d_tiny"]["pkl"].read_bytes())
    # EG3D does not decorate its renderer classes: they are referenced by import path.
    assert eg3d - panohead == {
        "training.volumetric_rendering.renderer.ImportanceRenderer",
        "training.volumetric_rendering.ray_marcher.MipRayMarcher2",
        "training.triplane.OSGDecoder",
    }


def test_other_entries_are_not_generators(fixture_data):
    path = fixture_data["panohead_tiny"]["pkl"]
    with pytest.raises(CheckpointError, match="not a tri-plane generator"):
        read_official_snapshot(path, "D")
    with pytest.raises(CheckpointError, match="NoneType, not a network"):
        read_official_snapshot(path, "augment_pipe")
    with pytest.raises(CheckpointError, match="has no network 'G_emma'") as info:
        read_official_snapshot(path, "G_emma")
    assert "'G_ema'" in info.value.message and "'augment_pipe'" in info.value.message


def test_is_official_snapshot(fixture_data, tmp_path):
    assert is_official_snapshot(fixture_data["panohead_tiny"]["pkl"])
    npz = tmp_path / "weights.npz"
    np.savez(npz, a=np.zeros(2))
    assert not is_official_snapshot(npz)
    assert not is_official_snapshot(tmp_path / "missing.pkl")
    # safetensors files start with their header length: here 25216 = 0x6280, whose first byte
    # is pickle's PROTO; and 640 = 0x280 even looks like PROTO 2.
    for length in (25216, 640):
        weights = tmp_path / f"{length}.safetensors"
        weights.write_bytes(length.to_bytes(8, "little") + b'{"a": 1}'.ljust(length))
        assert weights.read_bytes()[:1] == pickle.PROTO and not is_official_snapshot(weights)


# --- walk semantics against torch itself --------------------------------------------------------


def _reference_module() -> nn.Module:
    torch.manual_seed(0)
    root = nn.Module()
    root.register_parameter("w", nn.Parameter(torch.randn(2, 3), requires_grad=False))
    root.register_parameter("unused", None)
    root.register_buffer("b", torch.randn(4))
    root.register_buffer("scratch", torch.zeros(2), persistent=False)
    root.register_buffer("scale", torch.tensor(2.5))  # 0-dim
    root.register_buffer("transposed", torch.arange(12.0).reshape(3, 4).t())  # strided
    root.register_buffer("window", torch.arange(10.0)[3:7])  # storage offset 3
    root.register_buffer("low_precision", torch.randn(3).half())
    root.net = nn.Sequential(nn.Linear(3, 2), nn.Softplus(beta=2.0))
    root.add_module("gone", None)
    root.renderer = nn.Module()
    root.renderer.plane_axes = torch.eye(3).expand(3, 3, 3).contiguous()
    return root


def test_walk_matches_torch_state_dict(tmp_path):
    module = _reference_module()
    easy = _Call(_Ref("dnnlib.util", "EasyDict"), items={"num_layers": 2})
    root = _as_snapshot_module(
        module,
        rendering_kwargs={"box_warp": 1, "avg_camera_pivot": [0, 0, 0.2]},
        neural_rendering_resolution=8,
        gain_np1=np.float64(0.25),  # numpy 1.x writes numpy.core.multiarray.scalar
        gain_np2=_Call(
            _Ref("numpy._core.multiarray", "scalar"), np.dtype("f8"), struct.pack("<d", 0.5)
        ),
        shape=(4, 4),
        mapping=easy,
    )
    path = _snapshot_file(tmp_path, root)
    assert {"numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar"} <= _globals_in(
        path.read_bytes()
    )

    snap = read_official_snapshot(path)
    reference = module.state_dict()
    assert list(snap.tensors) == list(reference)
    for key, tensor in reference.items():
        assert snap.tensors[key].dtype == torch.float32 and snap.tensors[key].is_contiguous()
        assert torch.equal(snap.tensors[key], tensor.float()), key
    assert snap.tensors["scale"].shape == ()
    assert snap.parameter_names == {name for name, _ in module.named_parameters()}
    assert snap.class_tree == {name: type(m).__name__ for name, m in module.named_modules()}
    assert list(snap.class_tree) == [name for name, _ in module.named_modules()]

    root_attrs = snap.module_attrs[""]
    assert list(root_attrs) == [
        "rendering_kwargs",
        "neural_rendering_resolution",
        "gain_np1",
        "gain_np2",
        "shape",
        "mapping",
    ]  # every torch 2.x bookkeeping/hook key was left out
    assert type(root_attrs["gain_np1"]) is float and root_attrs["gain_np1"] == 0.25
    assert type(root_attrs["gain_np2"]) is float and root_attrs["gain_np2"] == 0.5
    assert root_attrs["shape"] == (4, 4) and type(root_attrs["mapping"]) is dict
    assert snap.module_attrs["net.0"] == {"in_features": 3, "out_features": 2}
    assert snap.module_attrs["net.1"] == {"beta": 2.0, "threshold": 20.0}
    assert torch.equal(snap.plane_axes, module.renderer.plane_axes)
    assert snap.rendering_kwargs == {"box_warp": 1, "avg_camera_pivot": [0, 0, 0.2]}
    assert snap.neural_rendering_resolution == 8 and snap.init_kwargs == {}


def test_hand_written_storage_blob_loads(tmp_path):
    values = np.arange(6, dtype=np.float32) / 7
    root = _minimal_generator()
    root.args[0]["state"]["_parameters"]["w"] = _hand_parameter(_legacy_blob(values), (2, 3))
    snap = read_official_snapshot(_snapshot_file(tmp_path, root))
    assert np.array_equal(snap.tensors["w"].numpy(), values.reshape(2, 3))
    assert snap.parameter_names == {"w"} and snap.plane_axes is None


# --- refusals: nothing in a hostile file may run ------------------------------------------------


def _payloads(marker: Path) -> dict[str, Any]:
    return {
        "os.system": _Call(_Ref("os", "system"), f"touch '{marker}'"),
        "builtins.eval": _Call(_Ref("builtins", "eval"), f"open({str(marker)!r}, 'w').close()"),
        "subprocess.Popen": _Call(_Ref("subprocess", "Popen"), ["touch", str(marker)]),
    }


def test_payloads_are_live_under_plain_pickle(tmp_path):
    # Control: the same bytes DO run code under pickle.load, so the refusal tests prove something.
    for name, payload in _payloads(tmp_path / "marker").items():
        marker = tmp_path / "marker"
        result = pickle.loads(_dumps(payload))
        if name == "subprocess.Popen":
            result.wait()
        assert marker.exists(), name
        marker.unlink()


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "subprocess.Popen"])
def test_refuses_code_execution(name, tmp_path):
    marker = tmp_path / "marker"
    root = _minimal_generator(evil=_payloads(marker)[name])
    path = _snapshot_file(tmp_path, root)
    with pytest.raises(UnsafeCheckpointError, match=f"refusing global '{name}'") as info:
        read_official_snapshot(path)
    assert "nothing in it was executed" in info.value.hint
    assert not marker.exists()


@pytest.mark.parametrize(
    "ref",
    [
        _Ref("training.triplane", "Evil"),
        _Ref("torch.nn", "Linear"),
        _Ref("torch.nn.modules.linear", "Linear"),
        _Ref("torch_utils.persistence", "persistent_class"),
    ],
)
def test_refuses_unknown_classes(ref, tmp_path):
    root = _minimal_generator(child=_Call(ref))
    with pytest.raises(UnsafeCheckpointError, match=f"refusing global '{ref.module}.{ref.name}'"):
        read_official_snapshot(_snapshot_file(tmp_path, root))


def test_refuses_global_hidden_inside_a_storage_blob(tmp_path):
    marker = tmp_path / "marker"
    values = np.ones(3, dtype=np.float32)
    evil_object = _payloads(marker)["os.system"]
    root = _minimal_generator()
    root.args[0]["state"]["_parameters"]["w"] = _hand_parameter(
        _legacy_blob(values, storage_object=evil_object), (3,)
    )
    with pytest.raises(UnsafeCheckpointError, match="refusing global 'os.system'"):
        read_official_snapshot(_snapshot_file(tmp_path, root))
    assert not marker.exists()


def test_refuses_persistent_ids_in_the_outer_stream(tmp_path):
    path = _snapshot_file(tmp_path, _minimal_generator(evil=_Persistent(("storage", 1))))
    with pytest.raises(UnsafeCheckpointError, match="persistent reference"):
        read_official_snapshot(path)


def test_never_looks_at_module_source(tmp_path):
    # A source that would do harm if executed is just data to the reader.
    marker = tmp_path / "marker"
    root = _minimal_generator()
    root.args[0]["module_src"] = f"import os\nos.system('touch {marker}')\n"
    assert read_official_snapshot(_snapshot_file(tmp_path, root)).class_tree == {
        "": "TriPlaneGenerator"
    }
    assert not marker.exists()


# --- refusals: a pickle may not modify the reader -----------------------------------------------


def _loader_state() -> list:
    """The attributes of every allowed global (of the function behind each wrapper)."""
    allowed = [
        *official_pickle._SnapshotUnpickler.allowed.values(),
        *official_pickle._StorageUnpickler.allowed.values(),
    ]
    targets = [found.function if isinstance(found, Allowed) else found for found in allowed]
    return [(dict(vars(t)), getattr(t, "__defaults__", None)) for t in targets]


# BUILD with a slot state (setattr per key) and with a plain state (an update of __dict__).
HOSTILE_STATES = [(None, {"__defaults__": ({"neg": True},)}), {"__defaults__": (), "foo": 1}]


@pytest.mark.parametrize("state", HOSTILE_STATES, ids=["slot state", "dict state"])
@pytest.mark.parametrize(
    "name",
    [
        "torch._utils\n_rebuild_tensor_v2",
        "torch._utils\n_rebuild_parameter",
        "numpy\ndtype",
        "collections\nOrderedDict",
        "dnnlib.util\nEasyDict",
        "torch.nn.modules.container\nSequential",
    ],
)
def test_refuses_to_modify_the_loader(name, state, tmp_path):
    """GLOBAL of an allowed name, then BUILD on it: refused, and nothing changes."""
    state_ops = pickle.dumps(state, protocol=2)[2:-1]  # without PROTO and STOP
    data = b"\x80\x02" + pickle.GLOBAL + f"{name}\n".encode() + state_ops + pickle.BUILD + b"."
    path = tmp_path / "snapshot.pkl"
    path.write_bytes(data)
    before = _loader_state()
    with pytest.raises(UnsafeCheckpointError, match="unexpected attempt to modify") as info:
        read_official_snapshot(path)
    assert "nothing in it was executed" in info.value.hint
    assert _loader_state() == before
    assert official_pickle._rebuild_tensor_v2.__defaults__ == (None,)
    assert official_pickle._rebuild_parameter.__dict__ == {}


def test_refuses_to_modify_built_records(tmp_path):
    """BUILD on a tensor the reader built would skip its checks: refused."""
    root = _minimal_generator()
    parameter = _hand_parameter(_legacy_blob(np.zeros(3, dtype=np.float32)), (3,))
    parameter.state = {"view": None}
    root.args[0]["state"]["_parameters"]["w"] = parameter
    with pytest.raises(UnsafeCheckpointError, match="unexpected attempt to modify a _TensorRecord"):
        read_official_snapshot(_snapshot_file(tmp_path, root))


def test_module_state_must_be_a_dict(tmp_path):
    stub = _Call(_Ref("torch.nn.modules.container", "Sequential"), state=[1])
    root = _minimal_generator()
    root.args[0]["state"]["_modules"]["net"] = stub
    with pytest.raises(CheckpointError, match="a Sequential object has a state of type list"):
        read_official_snapshot(_snapshot_file(tmp_path, root))


# --- damaged and wrong files --------------------------------------------------------------------


def _first_large_blob(data: bytes) -> tuple[int, int]:
    """(start, length) of the first BINBYTES payload over 10 kB."""
    for op, arg, pos in pickletools.genops(data):
        if op.name == "BINBYTES" and len(arg) > 10_000:
            return pos + 5, len(arg)  # opcode byte + 4-byte length
    raise AssertionError("no large blob in the fixture")


def test_truncated_files_are_reported(fixture_data, tmp_path):
    data = fixture_data["panohead_tiny"]["pkl"].read_bytes()
    start, length = _first_large_blob(data)
    for cut in (int(len(data) * 0.6), start + length // 2, 1, len(data) - 1):
        path = tmp_path / f"cut{cut}.pkl"
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated or damaged"):
            read_official_snapshot(path)


@pytest.mark.parametrize(
    "mutate, wording",
    [
        (lambda blob: blob + b"\0", "expected 12 data bytes, found 13"),
        (lambda blob: blob[:-1], "expected 12 data bytes, found 11"),
        (lambda blob: blob.replace(b"\x88X\n", b"\x89X\n", 1), "little-endian"),
        (lambda blob: blob.replace(b"\xe9\x03", b"\xea\x03", 1), "legacy protocol 1002"),
        (lambda blob: blob.replace(b"FloatStorage", b"FloatStorag"), "'torch.FloatStorag'"),
    ],
)
def test_damaged_storage_blobs(mutate, wording, tmp_path):
    blob = mutate(_legacy_blob(np.zeros(3, dtype=np.float32)))
    root = _minimal_generator()
    root.args[0]["state"]["_parameters"]["w"] = _hand_parameter(blob, (3,))
    with pytest.raises(CheckpointError, match=wording):
        read_official_snapshot(_snapshot_file(tmp_path, root))


def test_tensor_outside_its_storage_is_rejected(tmp_path):
    root = _minimal_generator()
    blob = _legacy_blob(np.zeros(6, dtype=np.float32))
    root.args[0]["state"]["_parameters"]["w"] = _hand_parameter(blob, (3, 3))
    with pytest.raises(CheckpointError, match="does not fit its storage of 6 elements"):
        read_official_snapshot(_snapshot_file(tmp_path, root))


def test_wrong_persistence_version_is_named(tmp_path):
    root = _minimal_generator()
    root.args[0]["version"] = 5
    with pytest.raises(CheckpointError, match="version 5"):
        read_official_snapshot(_snapshot_file(tmp_path, root))


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found") as info:
        read_official_snapshot(tmp_path / "nope.pkl")
    assert "download" in info.value.hint


def test_file_over_the_size_limit(fixture_data):
    with pytest.raises(CheckpointError, match="limit"):
        read_official_snapshot(fixture_data["panohead_tiny"]["pkl"], max_bytes=1000)


def test_top_level_must_be_a_dict(tmp_path):
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(CheckpointError, match="top level .* is a list; expected a dict"):
        read_official_snapshot(os.fspath(path))


def test_module_containing_itself_is_rejected(tmp_path):
    # Import-path modules get their state by BUILD after creation, so a state can refer back.
    stub = _Call(_Ref("torch.nn.modules.container", "Sequential"))
    stub.state = {"_modules": OrderedDict(loop=stub)}
    root = _minimal_generator()
    root.args[0]["state"]["_modules"]["net"] = stub
    with pytest.raises(CheckpointError, match="'net.loop' contains itself"):
        read_official_snapshot(_snapshot_file(tmp_path, root))
