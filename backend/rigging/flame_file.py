"""Reading the user's own FLAME model file into a ``HeadModel``, executing nothing from it.

Accepted files (layout facts: ``shared/research/flame.md`` §1):

* FLAME 2020 (also 2017/2019) ``generic_model.pkl`` / ``female_model.pkl`` / ``male_model.pkl``
  and FLAME 2023 ``flame2023.pkl`` / ``flame2023_no_jaw.pkl``: Python 2 era pickles whose arrays
  may be chumpy ``Ch`` objects (the value is under state key ``'x'``) and whose joint regressor is
  a ``scipy.sparse.csc.csc_matrix``;
* FLAME 2023 Open ``flame2023_Open.pkl``: plain numpy arrays (NumPy 1 or NumPy 2 spellings) and a
  ``supr_expression_metadata`` dict;
* ``.npz`` exports with the same keys; ``J_regressor`` dense, or as the CSC triple
  ``J_regressor_data``, ``J_regressor_indices``, ``J_regressor_indptr`` (optional
  ``J_regressor_shape``, default [5, V]). Loaded with ``allow_pickle=False``.

Pickles go through a restricted unpickler (``backend.unpickling``): an allow-list of the globals
such files use, each mapped onto an inert stub or onto a small argument-checking function that
only builds numpy values. chumpy and scipy are never imported for unpickling, nothing the file
names is imported, and the only calls it can make are to those checking functions; any other
global, and any attempt to modify what the unpickler hands out, is refused with
``RigModelError``.

Required keys: ``v_template`` [V, 3], ``f`` [F, 3], ``shapedirs`` [V, 3, K], ``posedirs``
[V, 3, 36], ``J_regressor`` [5, V], ``weights`` [V, 5], ``kintree_table`` [2, 5] with parents
(-1, 0, 1, 1, 1) (a root written as uint32 4294967295 counts as -1). Optional ``bs_style`` must be
``'lbs'`` and ``bs_type`` ``'lrotmin'`` (the only skinning ``lbs.py`` implements); ``J`` and any
other extra keys are ignored (joints are always regressed).

Expressions: ``shapedirs[..., :300]`` is identity (β) and the rest expression (ψ); a file with at
most 300 columns is all identity and has no expressions. FLAME 2023 Open's
``supr_expression_metadata['n_expr']`` (expressions = the last ``n_expr`` columns) wins.

Regions: FLAME files carry no vertex masks, so ``regions`` are approximate, derived from the
template geometry (+y up, face toward +z, subject's left +x):

* "eyeball_left" / "eyeball_right": the two small connected components of the mesh that sit in the
  upper front of the head and mirror each other about its centre plane (FLAME: the two
  546-vertex eyeballs; left = +x). Absent when the mesh has no such pair;
* "skin": the largest connected component (the head surface without the eyeballs);
* "face": skin in front of the skin's mean depth, between 30 % (about FLAME's chin) and 85 %
  (forehead) of the skin's height;
* "neck": the other skin below 30 % of the height (below the chin);
* "scalp": the rest of the skin (top, back and sides). face, neck and scalp partition the skin.
"""

from __future__ import annotations

import operator
import os
import pickle
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..unpickling import (
    DECODE_ERRORS,
    NUMPY_CORES,
    NUMPY_SCALAR_GLOBALS,
    Allowed,
    RestrictedUnpickler,
    StateStub,
    Stub,
    UnsafePickleError,
    is_plain_dtype,
)
from .errors import RigModelError
from .head_model import FLAME_JOINTS, HeadModel

__all__ = ["RELEASE_NAMES", "RigModelError", "load_flame"]

RELEASE_NAMES = {
    "flame2020": "FLAME 2020",
    "flame2023": "FLAME 2023",
    "flame2023_no_jaw": "FLAME 2023 (no jaw)",
    "flame2023_open": "FLAME 2023 Open",
    "flame_unknown": "FLAME (unknown release)",
}
# Official file names (lower case) -> release; first match wins, so the longer names come first.
_FILE_RELEASES = (
    (re.compile(r"flame2023_open"), "flame2023_open"),
    (re.compile(r"flame2023_no_jaw"), "flame2023_no_jaw"),
    (re.compile(r"flame2023"), "flame2023"),
    (re.compile(r"(generic|female|male)_model"), "flame2020"),
)

_IDENTITY_COLUMNS = 300  # every release stores 300 identity + 100 expression columns
_NUM_JOINTS = len(FLAME_JOINTS)
_POSE_COLUMNS = 9 * (_NUM_JOINTS - 1)
_KINTREE_PARENTS = (0, 1, 1, 1)  # parents of joints 1..4; joint 0 is the root
_ROOT_PARENTS = (-1, 2**32 - 1, 2**64 - 1)  # -1 as int, as uint32 (FLAME's files) or uint64
_REQUIRED = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")
_SPARSE_TRIPLE = ("J_regressor_data", "J_regressor_indices", "J_regressor_indptr")

# Approximate regions (fractions of the skin's height, and of the head's size for the eyeballs).
_CHIN_FRACTION = 0.30
_BROW_FRACTION = 0.85
_EYE_MAX_EXTENT = 0.25  # an eyeball is much smaller than the head (FLAME: 0.025 of 0.32 m)
_EYE_MIRROR_TOLERANCE = 0.05  # how far the pair may be from mirroring each other

_UNSAFE_HINT = (
    "This is not a FLAME model file, or it was tampered with; nothing in it was executed."
)
_DAMAGED_HINT = "Download the FLAME model again (or export the .npz again) and use the new file."
_LAYOUT_HINT = (
    "Use the unmodified model file from your FLAME download, or an .npz export of all its keys."
)
# --- inert stand-ins for the classes FLAME pickles name --------------------------------------


class _ChumpyArray(StateStub):
    """Stands in for a chumpy class (one subclass per class, ``named`` after it)."""

    __slots__ = ()

    @property
    def value(self) -> Any:
        """The stored value (state key ``'x'``); None for a computed expression."""
        return self.state.get("x")


class _SparseCsc(StateStub):
    """Stands in for scipy's ``csc_matrix``: records the pickled attribute dict only."""

    __slots__ = ()


class _NdarrayName(Stub):
    """What ``numpy.ndarray`` resolves to: a token for ``_reconstruct``, never numpy's class.

    ``numpy.ndarray(shape, 'O', buffer)`` called from a pickle would read object pointers out of
    raw bytes, so the real class must never be reachable.
    """

    __slots__ = ()


# --- allow-listed callables: argument checks, then plain array construction --------------------


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
    # numpy's pickles always call _reconstruct(ndarray, (0,), b'b'); BUILD then fills the array.
    if subtype is not _NdarrayName or shape != (0,) or typecode not in (b"b", "b"):
        raise UnsafePickleError(
            f"unexpected numpy array reconstruction ({subtype!r}, {shape!r}, {typecode!r})"
        )
    return np.ndarray((0,), np.uint8)


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    if (
        not isinstance(buffer, (bytes, bytearray))
        or not is_plain_dtype(dtype)
        or not isinstance(shape, tuple)
        or not all(type(n) is int and n >= 0 for n in shape)
        or order not in ("C", "F")
    ):
        raise UnsafePickleError(
            f"unexpected numpy buffer array ({type(buffer).__name__}, {dtype!r}, {shape!r})"
        )
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)


def _make_set(items: Any = ()) -> set:
    if not isinstance(items, (list, tuple)):
        raise UnsafePickleError(f"unexpected set contents of type {type(items).__name__}")
    return set(items)


def _latin1_bytes(text: Any, encoding: Any) -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"unexpected codec call ({type(text).__name__}, {encoding!r})")
    return text.encode("latin1")


def _empty_bytes() -> bytes:
    return b""


class _FlameUnpickler(RestrictedUnpickler):
    allowed = {
        ("numpy", "ndarray"): _NdarrayName,
        ("scipy.sparse.csc", "csc_matrix"): _SparseCsc,  # scipy < 1.8
        ("scipy.sparse._csc", "csc_matrix"): _SparseCsc,
        **NUMPY_SCALAR_GLOBALS,
        **{(f"{core}.multiarray", "_reconstruct"): Allowed(_reconstruct) for core in NUMPY_CORES},
        **{(f"{core}.numeric", "_frombuffer"): Allowed(_frombuffer) for core in NUMPY_CORES},
        # chumpy's Ch keeps a set of variable names; Python 2 spells the builtin module __builtin__.
        ("__builtin__", "set"): Allowed(_make_set),
        ("builtins", "set"): Allowed(_make_set),
        # Python 3 writes bytes into protocol-2 pickles as _codecs.encode(text, 'latin1'), and
        # empty ones (the data of an empty array) as __builtin__.bytes().
        ("_codecs", "encode"): Allowed(_latin1_bytes),
        ("__builtin__", "bytes"): Allowed(_empty_bytes),
        ("builtins", "bytes"): Allowed(_empty_bytes),
    }

    def __init__(self, file: Any, source: Path) -> None:
        super().__init__(file, encoding="latin1")  # Python 2 byte strings hold array data
        self.source = source

    def unsafe_error(self, message: str) -> RigModelError:
        return RigModelError(f"{message} in FLAME file {self.source}.", _UNSAFE_HINT)

    def find_class(self, module: str, name: str) -> Any:
        if (module == "chumpy" or module.startswith("chumpy.")) and name.isidentifier():
            return _ChumpyArray.named(f"{module}.{name}")
        return super().find_class(module, name)


# --- reading the file ---------------------------------------------------------------------------


def _damaged(path: Path, exc: BaseException) -> RigModelError:
    return RigModelError(
        f"cannot read {path}: the file is truncated or damaged ({type(exc).__name__}: {exc})."[
            :400
        ],
        _DAMAGED_HINT,
    )


def _read_entries(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
            if magic[:1] == pickle.PROTO:
                f.seek(0)
                top = _FlameUnpickler(f, path).load()
            elif magic == b"PK\x03\x04":
                top = None
            else:
                what = "is empty" if not magic else "is neither a pickle nor an .npz archive"
                raise RigModelError(
                    f"{path} {what}, so it is not a FLAME model file.",
                    "Use generic_model.pkl, flame2023.pkl, flame2023_no_jaw.pkl, "
                    "flame2023_Open.pkl or an .npz export of one of them.",
                )
    except FileNotFoundError:
        raise RigModelError(
            f"FLAME model file not found: {path}.",
            "Download FLAME yourself (flame.is.tue.mpg.de) and point to the .pkl file.",
        ) from None
    except RigModelError:
        raise
    except OSError as exc:
        raise RigModelError(f"cannot read {path}: {exc.strerror}.", "Check the path.") from None
    except DECODE_ERRORS as exc:
        raise _damaged(path, exc) from None
    if top is None:
        top = _read_npz(path)
    if not isinstance(top, dict) or not all(isinstance(k, str) for k in top):
        what = "dict with non-text keys" if isinstance(top, dict) else type(top).__name__
        raise RigModelError(f"{path} holds a {what}, not a dict of FLAME arrays.", _LAYOUT_HINT)
    return top


def _read_npz(path: Path) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise _damaged(path, exc) from None
        raise RigModelError(
            f"{path} stores Python objects; PanoRig reads only plain arrays from .npz files.",
            "Export every key as a numeric array (J_regressor dense or as its CSC triple).",
        ) from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError, struct.error) as exc:
        raise _damaged(path, exc) from None


# --- validating and converting the entries -------------------------------------------------------


def _numeric(entries: dict[str, Any], key: str, source: Path, kinds: str) -> np.ndarray:
    value = entries[key]
    if isinstance(value, _ChumpyArray):
        if value.value is None:
            raise RigModelError(
                f"'{key}' in {source} is a {type(value).__name__} expression without stored "
                "values.",
                _LAYOUT_HINT,
            )
        value = value.value
    if (
        not isinstance(value, np.ndarray)
        or value.dtype.kind not in kinds
        or value.dtype.fields is not None
    ):
        if isinstance(value, np.ndarray):
            found = f"a {value.dtype} array"
        else:
            found = "a sparse matrix" if isinstance(value, _SparseCsc) else type(value).__name__
            found = f"a {found}"
        wanted = "an integer" if kinds == "iu" else "a numeric"
        raise RigModelError(
            f"'{key}' in {source} is {found}, expected {wanted} array.", _LAYOUT_HINT
        )
    return value


def _check_shape(key: str, found: tuple[int, ...], expected: tuple, source: Path) -> None:
    """``expected`` holds sizes, or names (str) for free dimensions, which must not be empty."""
    ok = (
        len(found) == len(expected)
        and all(isinstance(e, str) or e == n for e, n in zip(expected, found, strict=True))
        and 0 not in found
    )
    if not ok:
        wanted = "(" + ", ".join(str(e) for e in expected) + ")"
        raise RigModelError(
            f"'{key}' in {source} has shape {tuple(found)}, expected {wanted}.", _LAYOUT_HINT
        )


def _floats(entries: dict[str, Any], key: str, expected: tuple, source: Path) -> np.ndarray:
    array = _numeric(entries, key, source, "iuf")
    _check_shape(key, array.shape, expected, source)
    out = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(out).all():
        raise RigModelError(f"'{key}' in {source} holds NaN or infinite values.", _DAMAGED_HINT)
    return out


def _csc_dense(
    data: Any, indices: Any, indptr: Any, shape: Any, expected: tuple[int, int], source: Path
) -> np.ndarray:
    """A CSC matrix's parts -> dense float32 array, with numpy only."""

    def bad(detail: str) -> RigModelError:
        return RigModelError(
            f"'J_regressor' in {source} is not a valid sparse matrix: {detail}.", _DAMAGED_HINT
        )

    try:
        shape = tuple(operator.index(n) for n in np.asarray(shape, dtype=object).ravel())
    except TypeError:
        raise bad(f"shape {shape!r}") from None
    _check_shape("J_regressor", shape, expected, source)
    parts = {"data": data, "indices": indices, "indptr": indptr}
    for name, part in parts.items():
        if not isinstance(part, np.ndarray) or part.ndim != 1 or part.dtype.kind not in "iuf":
            raise bad(f"{name} is not a 1-D numeric array")
    if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
        raise bad("indices and indptr must be integers")
    rows, cols = shape
    if (
        len(indptr) != cols + 1
        or indptr[0] != 0
        or np.any(np.diff(indptr.astype(np.int64)) < 0)
        or indptr[-1] != len(indices)
        or len(indices) != len(data)
    ):
        raise bad("inconsistent indptr, indices and data")
    if len(indices) and (indices.min() < 0 or indices.max() >= rows):
        raise bad("row index out of range")
    dense = np.zeros(shape, np.float64)
    column = np.repeat(np.arange(cols), np.diff(indptr.astype(np.int64)))
    np.add.at(dense, (indices.astype(np.int64), column), data)  # duplicates add, as in scipy
    out = dense.astype(np.float32)
    if not np.isfinite(out).all():
        raise bad("NaN or infinite values")
    return out


def _joint_regressor(entries: dict[str, Any], n_vertices: int, source: Path) -> np.ndarray:
    expected = (_NUM_JOINTS, n_vertices)
    value = entries.get("J_regressor")
    if value is None:  # the .npz CSC triple (presence checked with the required keys)
        data, indices, indptr = (entries[k] for k in _SPARSE_TRIPLE)
        shape = entries.get("J_regressor_shape", expected)
        return _csc_dense(data, indices, indptr, shape, expected, source)
    if isinstance(value, _SparseCsc):
        state = value.state
        shape = state.get("_shape", state.get("shape"))  # old scipy versions used 'shape'
        parts = (state.get("data"), state.get("indices"), state.get("indptr"))
        return _csc_dense(*parts, shape, expected, source)
    return _floats(entries, "J_regressor", expected, source)


def _text(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "SU":
        value = value.item()  # .npz exports store strings as 0-d arrays
    return value.decode("latin1") if isinstance(value, bytes) else value


def _check_skinning_style(entries: dict[str, Any], source: Path) -> None:
    for key, supported in (("bs_style", "lbs"), ("bs_type", "lrotmin")):
        if key in entries and _text(entries[key]) != supported:
            raise RigModelError(
                f"'{key}' in {source} is {_text(entries[key])!r}; PanoRig supports only "
                f"{supported!r} (FLAME's skinning).",
                _LAYOUT_HINT,
            )


def _check_kintree(entries: dict[str, Any], source: Path) -> None:
    table = _numeric(entries, "kintree_table", source, "iu")
    _check_shape("kintree_table", table.shape, (2, _NUM_JOINTS), source)
    parents = [int(p) for p in table[0]]
    ids = [int(i) for i in table[1]]
    if (
        parents[0] not in _ROOT_PARENTS
        or tuple(parents[1:]) != _KINTREE_PARENTS
        or ids != list(range(_NUM_JOINTS))
    ):
        raise RigModelError(
            f"'kintree_table' in {source} is {[parents, ids]}, expected FLAME's joint tree "
            "(parents [-1, 0, 1, 1, 1], ids [0, 1, 2, 3, 4]).",
            _LAYOUT_HINT,
        )


def _expression_count(entries: dict[str, Any], columns: int, source: Path) -> int:
    default = max(columns - _IDENTITY_COLUMNS, 0)
    meta = entries.get("supr_expression_metadata")
    if meta is None:
        return default
    if not isinstance(meta, dict):
        raise RigModelError(
            f"'supr_expression_metadata' in {source} is a {type(meta).__name__}, expected a dict.",
            _LAYOUT_HINT,
        )
    count = meta.get("n_expr")
    if count is None:
        return default
    if isinstance(count, np.integer):
        count = int(count)
    if type(count) is not int or not 0 <= count <= columns:
        raise RigModelError(
            f"n_expr {count!r} in {source} does not fit the {columns} shapedirs columns.",
            _LAYOUT_HINT,
        )
    layout = meta.get("expr_components")
    if layout is not None and layout != f"last_{count}":
        raise RigModelError(
            f"expression columns {layout!r} in {source} are not supported "
            f"(expected 'last_{count}').",
            _LAYOUT_HINT,
        )
    return count


def _release(path: Path, entries: dict[str, Any], release: str | None) -> tuple[str, str]:
    """(release id, human-readable name)."""
    file_name = path.name.lower()
    if release is None:
        if "supr_expression_metadata" in entries:
            release = "flame2023_open"
        else:
            release = next(
                (found for pattern, found in _FILE_RELEASES if pattern.match(file_name)),
                "flame_unknown",
            )
    name = RELEASE_NAMES.get(release, release)
    gender = re.match(r"(female|male)_model", file_name)
    if release == "flame2020" and gender:
        name = f"{name} ({gender.group(1)})"
    return release, name


def _model_arrays(entries: dict[str, Any], source: Path) -> dict[str, np.ndarray]:
    missing = [k for k in _REQUIRED if k not in entries]
    if "J_regressor" in missing and all(k in entries for k in _SPARSE_TRIPLE):
        missing.remove("J_regressor")
    if missing:
        found = ", ".join(sorted(entries)) or "none"
        raise RigModelError(
            f"{source} lacks the FLAME key(s) {', '.join(missing)} (keys found: {found})."[:600],
            _LAYOUT_HINT,
        )
    _check_skinning_style(entries, source)
    _check_kintree(entries, source)
    vertices = _floats(entries, "v_template", ("V", 3), source)
    n = len(vertices)
    faces = _numeric(entries, "f", source, "iu")
    _check_shape("f", faces.shape, ("F", 3), source)
    if faces.min() < 0 or faces.max() >= n:
        raise RigModelError(
            f"'f' in {source} refers to vertex {int(faces.max())}, but 'v_template' has {n}.",
            _LAYOUT_HINT,
        )
    weights = _floats(entries, "weights", (n, _NUM_JOINTS), source)
    worst = float(np.abs(weights.sum(1) - 1).max())
    if worst > 1e-3 or weights.min() < -1e-6:
        raise RigModelError(
            f"'weights' in {source} are not skinning weights (rows off 1 by up to {worst:.3g}, "
            f"minimum {float(weights.min()):.3g}).",
            _LAYOUT_HINT,
        )
    return {
        "vertices": vertices,
        "faces": faces.astype(np.int32),
        "shapedirs": _floats(entries, "shapedirs", (n, 3, "K"), source),
        "posedirs": _floats(entries, "posedirs", (n, 3, _POSE_COLUMNS), source),
        "regressor": _joint_regressor(entries, n, source),
        "weights": weights,
    }


# --- approximate regions -----------------------------------------------------------------------


def _regions(vertices: np.ndarray, faces: np.ndarray) -> dict[str, np.ndarray]:
    n = len(vertices)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    used = np.zeros(n, bool)
    used[faces.ravel()] = True
    # Unused vertices are single-vertex components; counting only used ones ignores them.
    sizes = np.bincount(labels[used], minlength=labels.max() + 1)
    head = int(sizes.argmax())
    skin = np.flatnonzero(labels == head)
    regions = _eyeballs(vertices, labels, sizes, head)
    points = vertices[skin]
    low, high = points[:, 1].min(), points[:, 1].max()
    height = (points[:, 1] - low) / max(high - low, 1e-12)
    below_chin = height < _CHIN_FRACTION
    face = ~below_chin & (height <= _BROW_FRACTION) & (points[:, 2] > points[:, 2].mean())
    regions.update(
        skin=skin,
        face=skin[face],
        neck=skin[below_chin & ~face],
        scalp=skin[~below_chin & ~face],
    )
    return regions


def _eyeballs(
    vertices: np.ndarray, labels: np.ndarray, sizes: np.ndarray, head: int
) -> dict[str, np.ndarray]:
    head_points = vertices[labels == head]
    low, high = head_points.min(0), head_points.max(0)
    centre, size = (low + high) / 2, float((high - low).max())
    candidates = []  # (label, centroid) of small parts in the upper front of the head
    for label in np.flatnonzero(sizes >= 4):
        if label == head:
            continue
        points = vertices[labels == label]
        mid = points.mean(0)
        small = (points.max(0) - points.min(0)).max() <= _EYE_MAX_EXTENT * size
        if small and mid[1] > centre[1] and mid[2] > centre[2]:
            candidates.append((label, mid))
    best = None
    for left, left_mid in candidates:
        for right, right_mid in candidates:
            if left_mid[0] <= centre[0] or right_mid[0] >= centre[0]:
                continue
            mirrored = left_mid * (-1, 1, 1) + (2 * centre[0], 0, 0)  # left reflected to the right
            mismatch = float(np.abs(mirrored - right_mid).sum())
            if mismatch <= _EYE_MIRROR_TOLERANCE * size and (best is None or mismatch < best[0]):
                best = (mismatch, left, right)
    if best is None:
        return {}
    return {
        "eyeball_left": np.flatnonzero(labels == best[1]),
        "eyeball_right": np.flatnonzero(labels == best[2]),
    }


# --- public API ----------------------------------------------------------------------------------


def load_flame(path: str | os.PathLike, release: str | None = None) -> HeadModel:
    """Read the user's FLAME model file (pickle or .npz) into a ``HeadModel``.

    ``release`` overrides the detected release: otherwise ``supr_expression_metadata`` means
    "flame2023_open", else the official file name decides ("flame2020", "flame2023",
    "flame2023_no_jaw", "flame2023_open"), else "flame_unknown". Raises ``RigModelError`` (with a
    hint) if the file is missing, damaged, unsafe or not a FLAME model.
    """
    source = Path(path)
    entries = _read_entries(source)
    arrays = _model_arrays(entries, source)
    shapedirs = arrays["shapedirs"]
    n_expr = _expression_count(entries, shapedirs.shape[2], source)
    n_identity = shapedirs.shape[2] - n_expr
    release_id, name = _release(source, entries, release)
    return HeadModel(
        name=name,
        release=release_id,
        vertices=arrays["vertices"],
        faces=arrays["faces"],
        shape_basis=np.ascontiguousarray(shapedirs[:, :, :n_identity]),
        expr_basis=np.ascontiguousarray(shapedirs[:, :, n_identity:]),
        pose_basis=arrays["posedirs"],
        joint_regressor=arrays["regressor"],
        weights=arrays["weights"],
        regions=_regions(arrays["vertices"], arrays["faces"]),
    )
