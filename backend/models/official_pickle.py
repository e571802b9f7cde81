"""Restricted, non-executing reader for official PanoHead / EG3D checkpoint snapshots.

The official ``network-snapshot-*.pkl`` files are ``torch_utils.persistence`` pickles: every
network module carries the Python source of its defining file, and a normal ``pickle.load`` would
import or ``exec`` that code. This reader unpickles (``backend.unpickling``) with an allow-list of
the few globals such a snapshot uses, maps each onto an inert stub or a small argument-checking
function that builds inert records, parses the embedded tensor blobs by hand, and then walks the
chosen network into plain tensors and attributes. Nothing found in the file is ever imported,
executed or called, and the file cannot modify the reader. Layout facts:
``shared/research/panohead_pickle_format.md``.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backend.models.errors import CheckpointError, UnsafeCheckpointError
from backend.unpickling import (
    DECODE_ERRORS,
    NUMPY_SCALAR_GLOBALS,
    Allowed,
    Inert,
    RestrictedUnpickler,
    StateStub,
    Stub,
)

_DAMAGED_HINT = "the checkpoint file is truncated or damaged; download it again."
_UNSAFE_HINT = (
    "the file is not a PanoHead/EG3D snapshot or was tampered with; nothing in it was executed."
)


@dataclass(frozen=True)
class OfficialSnapshot:
    """One network of an official snapshot, as plain data (see ``read_official_snapshot``)."""

    tensors: dict[str, torch.Tensor]
    parameter_names: frozenset[str]
    class_tree: dict[str, str]
    module_attrs: dict[str, dict]
    init_kwargs: dict
    init_args: tuple
    rendering_kwargs: dict
    neural_rendering_resolution: int
    plane_axes: torch.Tensor | None


# --- inert records produced by the allow-listed globals -------------------------------------


# Records compare by identity (eq=False): they only ever flow from the unpickler to the walk.
# Inert: the pickle may not BUILD them (that would bypass the checks of the callables below).
@dataclass(frozen=True, eq=False)
class _Storage(Inert):
    """A storage's raw elements: a read-only numpy view into the pickled blob (not copied)."""

    data: np.ndarray
    torch_dtype: torch.dtype


@dataclass(frozen=True, eq=False)
class _TensorRecord(Inert):
    """A tensor as a read-only numpy view; copied only if the chosen network needs it."""

    view: np.ndarray
    torch_dtype: torch.dtype
    is_parameter: bool = False

    def materialize(self) -> torch.Tensor:
        # The copy makes the tensor contiguous and independent of the blob bytes.
        array = self.view.astype(self.view.dtype.newbyteorder("="), order="C")
        tensor = torch.from_numpy(array)
        if self.torch_dtype == torch.bfloat16:  # numpy has no bfloat16: bits were read as int16
            tensor = tensor.view(torch.bfloat16)
        return tensor


@dataclass(frozen=True, eq=False)
class _PersistentModule(Inert):
    """What ``_reconstruct_persistent_obj`` would have rebuilt, minus the embedded source."""

    class_name: str
    state: dict


class _EasyDict(dict, Stub):
    """Stands in for ``dnnlib.util.EasyDict`` (rebuilt with NEWOBJ + SETITEMS)."""

    __slots__ = ()


class _ImportPathModule(StateStub):
    """Stands in for a module class the snapshot references by import path (NEWOBJ + BUILD).

    One subclass per class (``named``): the walk needs the class name. A module that never gets
    BUILD keeps an empty state.
    """

    __slots__ = ()

    @property
    def class_name(self) -> str:
        return type(self).__name__


# --- allow-listed callables -------------------------------------------------------------------


def _reconstruct_persistent_obj(meta: Any) -> _PersistentModule:
    if not isinstance(meta, dict):
        raise CheckpointError(
            f"persistent object metadata is a {type(meta).__name__}, expected a dict.",
            _DAMAGED_HINT,
        )
    kind, version = meta.get("type"), meta.get("version")
    if kind != "class" or version != 6:
        raise CheckpointError(
            f"unsupported persistent object (type {kind!r}, version {version!r}); "
            "expected type 'class', version 6.",
            "this snapshot was written by a torch_utils.persistence version PanoRig does not know.",
        )
    class_name, state = meta.get("class_name"), meta.get("state")
    # module_src is the embedded source code: only its presence is checked, never its content.
    if (
        not isinstance(meta.get("module_src"), str)
        or not isinstance(class_name, str)
        or not isinstance(state, dict)
    ):
        raise CheckpointError(
            "persistent object metadata lacks module_src, class_name or state.", _DAMAGED_HINT
        )
    return _PersistentModule(class_name, state)


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    metadata: Any = None,
) -> _TensorRecord:
    if not isinstance(storage, _Storage):
        raise CheckpointError("tensor data is not a storage blob.", _DAMAGED_HINT)
    if metadata:  # torch's extra tensor flags (conj/neg bits) would change the values
        raise CheckpointError(
            "tensor carries metadata this reader does not support.",
            "the snapshot was written by a torch version PanoRig does not know.",
        )
    if not (
        _is_index(storage_offset)
        and isinstance(size, tuple)
        and isinstance(stride, tuple)
        and len(size) == len(stride)
        and all(map(_is_index, size + stride))
    ):
        raise CheckpointError(
            f"invalid tensor layout: offset {storage_offset!r}, size {size!r}, stride {stride!r}.",
            _DAMAGED_HINT,
        )
    length = storage.data.shape[0]
    numel = int(np.prod(size, dtype=object))
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    # numel <= length caps the memory a tensor may claim to what the file really holds.
    if numel > length or (numel > 0 and last >= length) or storage_offset > length:
        raise CheckpointError(
            f"tensor of size {size} (offset {storage_offset}, stride {stride}) does not fit "
            f"its storage of {length} elements.",
            _DAMAGED_HINT,
        )
    item = storage.data.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage.data[storage_offset:],
        shape=size,
        strides=tuple(s * item for s in stride),
        writeable=False,
    )
    return _TensorRecord(view, storage.torch_dtype)


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any) -> _TensorRecord:
    if not isinstance(data, _TensorRecord):
        raise CheckpointError("parameter data is not a tensor.", _DAMAGED_HINT)
    return _TensorRecord(data.view, data.torch_dtype, is_parameter=True)


def _rebuild_parameter_with_state(
    data: Any, requires_grad: Any, backward_hooks: Any, state: Any
) -> _TensorRecord:
    # The extra state holds Python attributes set on the Parameter object; weights do not need it.
    return _rebuild_parameter(data, requires_grad, backward_hooks)


def _load_from_bytes(blob: Any) -> _Storage:
    if not isinstance(blob, bytes):
        raise CheckpointError("storage blob is not a bytes object.", _DAMAGED_HINT)
    return _parse_storage_blob(blob)


class _CheckpointUnpickler(RestrictedUnpickler):
    """Refuses with ``UnsafeCheckpointError``; nothing allowed unless a subclass says so."""

    def unsafe_error(self, message: str) -> UnsafeCheckpointError:
        return UnsafeCheckpointError(f"{message}.", _UNSAFE_HINT)


class _SnapshotUnpickler(_CheckpointUnpickler):
    # The 11 globals of an official PanoHead snapshot, both numpy spellings, the EasyDict alias,
    # torch 2's parameter variant and EG3D's three undecorated rendering classes.
    allowed = {
        ("collections", "OrderedDict"): Allowed(collections.OrderedDict),
        ("dnnlib.util", "EasyDict"): _EasyDict,
        ("dnnlib", "EasyDict"): _EasyDict,
        **NUMPY_SCALAR_GLOBALS,
        ("torch._utils", "_rebuild_parameter"): Allowed(_rebuild_parameter),
        ("torch._utils", "_rebuild_parameter_with_state"): Allowed(_rebuild_parameter_with_state),
        ("torch._utils", "_rebuild_tensor_v2"): Allowed(_rebuild_tensor_v2),
        ("torch.storage", "_load_from_bytes"): Allowed(_load_from_bytes),
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): Allowed(
            _reconstruct_persistent_obj
        ),
        **{
            (module, name): _ImportPathModule.named(name)
            for module, name in (
                ("torch.nn.modules.activation", "Softplus"),
                ("torch.nn.modules.container", "Sequential"),
                ("training.volumetric_rendering.ray_sampler", "RaySampler"),
                ("training.volumetric_rendering.renderer", "ImportanceRenderer"),
                ("training.volumetric_rendering.ray_marcher", "MipRayMarcher2"),
                ("training.triplane", "OSGDecoder"),
            )
        },
    }


# --- legacy torch.save blobs (one storage each) -----------------------------------------------

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class _StorageType(Stub):
    """Stands in for a legacy storage class: the numpy dtype its elements are read as."""

    __slots__ = ()
    numpy_dtype: str
    torch_dtype: torch.dtype


# The legacy storage types; BFloat16 is read as raw 16-bit words.
_STORAGE_TYPES = {
    ("torch", name): _StorageType.named(name, numpy_dtype=numpy_dtype, torch_dtype=torch_dtype)
    for name, numpy_dtype, torch_dtype in (
        ("FloatStorage", "<f4", torch.float32),
        ("HalfStorage", "<f2", torch.float16),
        ("DoubleStorage", "<f8", torch.float64),
        ("BFloat16Storage", "<i2", torch.bfloat16),
        ("LongStorage", "<i8", torch.int64),
        ("IntStorage", "<i4", torch.int32),
        ("ShortStorage", "<i2", torch.int16),
        ("CharStorage", "i1", torch.int8),
        ("ByteStorage", "u1", torch.uint8),
        ("BoolStorage", "?", torch.bool),
    )
}


def _blob_error(detail: str) -> CheckpointError:
    return CheckpointError(f"damaged storage blob: {detail}.", _DAMAGED_HINT)


class _HeaderUnpickler(_CheckpointUnpickler):
    """Plain values only: the magic number, protocol, sys-info and key-list pickles."""

    def persistent_load(self, pid: Any) -> Any:
        raise _blob_error("unexpected persistent reference in a header")


class _StorageUnpickler(_HeaderUnpickler):
    """The object pickle: a single storage reference, storage-type globals only."""

    allowed = _STORAGE_TYPES

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file)
        self.refs: list[tuple] = []

    def persistent_load(self, pid: Any) -> Any:
        self.refs.append(pid)
        return pid


def _parse_storage_blob(blob: bytes) -> _Storage:
    stream = io.BytesIO(blob)  # shares the bytes until written to: no copy
    try:
        magic = _HeaderUnpickler(stream).load()
        protocol = _HeaderUnpickler(stream).load()
        sys_info = _HeaderUnpickler(stream).load()
        if type(magic) is not int or magic != _LEGACY_MAGIC:
            raise _blob_error("wrong magic number")
        if type(protocol) is not int or protocol != _LEGACY_PROTOCOL:
            raise _blob_error(f"unsupported legacy protocol {protocol!r}")
        if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
            raise _blob_error("not written on a little-endian machine")
        storage_unpickler = _StorageUnpickler(stream)
        root = storage_unpickler.load()
        keys = _HeaderUnpickler(stream).load()
    except CheckpointError:
        raise
    except DECODE_ERRORS as exc:
        raise _blob_error(f"{type(exc).__name__}: {exc}") from None

    refs = storage_unpickler.refs
    if len(refs) != 1 or root is not refs[0]:
        raise _blob_error("expected exactly one storage")
    ref = refs[0]
    if not (
        isinstance(ref, tuple)
        and len(ref) == 6
        and ref[0] == "storage"
        and ref[1] in _STORAGE_TYPES.values()
        and isinstance(ref[2], str)
        and isinstance(ref[3], str)
        and _is_index(ref[4])
        and ref[5] is None  # a view into a larger storage: never written for one tensor
    ):
        raise _blob_error(f"unexpected storage reference {ref!r}"[:300])
    storage_type, key, numel = ref[1], ref[2], ref[4]
    if keys != [key]:
        raise _blob_error("key list does not match the storage")
    dtype, torch_dtype = np.dtype(storage_type.numpy_dtype), storage_type.torch_dtype
    start = stream.tell()
    header = blob[start : start + 8]
    if len(header) != 8 or int.from_bytes(header, "little", signed=True) != numel:
        raise _blob_error("element count missing or inconsistent")
    found = len(blob) - start - 8
    if found != numel * dtype.itemsize:  # the blob must end exactly after the data
        raise _blob_error(f"expected {numel * dtype.itemsize} data bytes, found {found}")
    if numel == 0:
        return _Storage(np.empty(0, dtype=dtype), torch_dtype)
    return _Storage(np.frombuffer(blob, dtype=dtype, count=numel, offset=start + 8), torch_dtype)


def _is_index(value: Any) -> bool:
    return type(value) is int and value >= 0


# --- walking the chosen network ---------------------------------------------------------------

# nn.Module bookkeeping in a module's __dict__; any "_...hook..." key of any torch version too.
_BOOKKEEPING = frozenset(
    {
        "training",
        "_parameters",
        "_buffers",
        "_non_persistent_buffers_set",
        "_modules",
        "_init_args",
        "_init_kwargs",
        "_compiled_call_impl",
    }
)


def _is_bookkeeping(key: str) -> bool:
    return key in _BOOKKEEPING or (key.startswith("_") and "hook" in key)


def _plain(value: Any) -> Any:
    """Pickled attribute value -> plain Python (dicts, lists, tuples, numbers, tensors)."""
    if isinstance(value, np.generic):  # first: np.float64 is also a float subclass
        return value.item()
    if isinstance(value, (str, bytes, bool, int, float, type(None))):
        return value
    if isinstance(value, dict):  # also EasyDict and OrderedDict
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, _TensorRecord):
        return value.materialize()
    if isinstance(value, np.dtype):
        return value.str
    raise CheckpointError(
        f"unexpected {type(value).__name__} object among module attributes.", _DAMAGED_HINT
    )


def _module_state(node: Any, path: str) -> dict:
    if not isinstance(node, (_PersistentModule, _ImportPathModule)):
        raise CheckpointError(
            f"module '{path or '<root>'}' is a {type(node).__name__}, not a network module.",
            _DAMAGED_HINT,
        )
    return node.state


def _entries(state: dict, key: str, path: str) -> dict:
    entries = state.get(key, {})
    if not isinstance(entries, dict) or not all(isinstance(name, str) for name in entries):
        raise CheckpointError(f"module '{path or '<root>'}' has a malformed {key}.", _DAMAGED_HINT)
    return entries


class _Walk:
    """Flattens a module tree the way ``state_dict()`` and ``named_modules()`` would."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self.parameter_names: set[str] = set()
        self.class_tree: dict[str, str] = {}
        self.module_attrs: dict[str, dict] = {}
        self._seen: set[int] = set()

    def visit(self, node: Any, path: str, ancestors: frozenset[int] = frozenset()) -> None:
        state = _module_state(node, path)
        if id(node) in ancestors:
            raise CheckpointError(f"module '{path}' contains itself.", _DAMAGED_HINT)
        # named_modules() lists a shared module once; state_dict() still emits it under each path.
        if id(node) not in self._seen:
            self._seen.add(id(node))
            self.class_tree[path] = node.class_name
            self.module_attrs[path] = {
                k: _plain(v) for k, v in state.items() if not _is_bookkeeping(k)
            }
        prefix = f"{path}." if path else ""
        for name, record in _entries(state, "_parameters", path).items():
            if record is None:
                continue
            if not isinstance(record, _TensorRecord) or not record.is_parameter:
                raise CheckpointError(f"'{prefix}{name}' is not a parameter.", _DAMAGED_HINT)
            self._add(prefix + name, record)
            self.parameter_names.add(prefix + name)
        non_persistent = state.get("_non_persistent_buffers_set", set())
        if not isinstance(non_persistent, (set, frozenset)):
            raise CheckpointError(
                f"module '{path or '<root>'}' has a malformed _non_persistent_buffers_set.",
                _DAMAGED_HINT,
            )
        for name, record in _entries(state, "_buffers", path).items():
            if record is None or name in non_persistent:
                continue
            if not isinstance(record, _TensorRecord):
                raise CheckpointError(f"buffer '{prefix}{name}' is not a tensor.", _DAMAGED_HINT)
            self._add(prefix + name, record)
        for name, child in _entries(state, "_modules", path).items():
            if child is not None:
                self.visit(child, prefix + name, ancestors | {id(node)})

    def _add(self, name: str, record: _TensorRecord) -> None:
        tensor = record.materialize()
        # Contract: float32 weights; integer/bool buffers (none in these networks) keep their dtype.
        self.tensors[name] = tensor.float() if tensor.is_floating_point() else tensor


# --- public API -------------------------------------------------------------------------------


def is_official_snapshot(path: str | os.PathLike) -> bool:
    """Cheap sniff: does the file start like a pickle of protocol 2 or later (as snapshots do)?"""
    try:
        with open(path, "rb") as f:
            head = f.read(3)
    except OSError:
        return False
    # PROTO, a known protocol, then an opcode (never 0): a safetensors file, whose first bytes are
    # its header length, also starts with PROTO's byte 0x80 when that length is 0x..80.
    return (
        len(head) == 3
        and head[:1] == pickle.PROTO
        and 2 <= head[1] <= pickle.HIGHEST_PROTOCOL
        and head[2] != 0
    )


def read_official_snapshot(
    path: str | os.PathLike, network: str = "G_ema", max_bytes: int = 4 * 2**30
) -> OfficialSnapshot:
    """Read one network (``G_ema`` by default) of an official PanoHead / EG3D snapshot.

    Raises ``UnsafeCheckpointError`` if the file refers to anything outside the allow-list, and
    ``CheckpointError`` (with a hint) if it is missing, too large, damaged or not a snapshot.
    """
    top = _unpickle(Path(path), max_bytes)
    if not isinstance(top, dict):
        raise CheckpointError(
            f"the top level of {path} is a {type(top).__name__}; expected a dict holding "
            f"the network '{network}'.",
            "use a network-snapshot-*.pkl written by PanoHead/EG3D training.",
        )
    if network not in top:
        found = ", ".join(repr(k) for k in top) or "none"
        raise CheckpointError(
            f"{path} has no network '{network}' (keys found: {found}).",
            "pass one of the networks listed (normally 'G_ema') or use a full training snapshot.",
        )
    root = top[network]
    if not isinstance(root, (_PersistentModule, _ImportPathModule)):
        raise CheckpointError(
            f"'{network}' in {path} is a {type(root).__name__}, not a network.",
            "pass the generator network (normally 'G_ema') of a PanoHead/EG3D snapshot.",
        )
    walk = _Walk()
    try:
        walk.visit(root, "")
        init_args = _plain(root.state.get("_init_args"))
        init_kwargs = _plain(root.state.get("_init_kwargs"))
    except RecursionError:  # a self-referencing or absurdly deep structure
        raise CheckpointError(
            f"the module tree of '{network}' is nested too deeply.", _DAMAGED_HINT
        ) from None
    attrs = walk.module_attrs[""]
    rendering_kwargs = attrs.get("rendering_kwargs")
    resolution = attrs.get("neural_rendering_resolution")
    if not (
        isinstance(init_args, tuple)
        and isinstance(init_kwargs, dict)
        and isinstance(rendering_kwargs, dict)
        and type(resolution) is int
    ):
        raise CheckpointError(
            f"network '{network}' ({root.class_name}) is not a tri-plane generator snapshot: "
            "it lacks _init_args/_init_kwargs, rendering_kwargs or neural_rendering_resolution.",
            "pass the generator network (normally 'G_ema') of a PanoHead/EG3D snapshot.",
        )
    plane_axes = walk.module_attrs.get("renderer", {}).get("plane_axes")
    if plane_axes is not None and (
        not isinstance(plane_axes, torch.Tensor) or tuple(plane_axes.shape) != (3, 3, 3)
    ):
        raise CheckpointError("renderer.plane_axes is not a [3, 3, 3] tensor.", _DAMAGED_HINT)
    return OfficialSnapshot(
        tensors=walk.tensors,
        parameter_names=frozenset(walk.parameter_names),
        class_tree=walk.class_tree,
        module_attrs=walk.module_attrs,
        init_kwargs=init_kwargs,
        init_args=init_args,
        rendering_kwargs=rendering_kwargs,
        neural_rendering_resolution=resolution,
        plane_axes=plane_axes,
    )


def _unpickle(path: Path, max_bytes: int) -> Any:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CheckpointError(
            f"checkpoint file not found: {path}.",
            "check the path, or download the official checkpoint yourself and point to it.",
        ) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror}.", "check the path.") from None
    if size > max_bytes:
        raise CheckpointError(
            f"{path} is {size:,} bytes, more than the {max_bytes:,}-byte limit.",
            "check that this is a PanoHead/EG3D snapshot, or raise max_bytes.",
        )
    try:
        with open(path, "rb") as f:
            return _SnapshotUnpickler(f).load()
    except CheckpointError:
        raise
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror}.", "check the path.") from None
    except DECODE_ERRORS as exc:
        raise CheckpointError(
            f"cannot unpickle {path} ({type(exc).__name__}: {exc}).", _DAMAGED_HINT
        ) from None
