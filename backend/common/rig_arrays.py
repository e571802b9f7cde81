"""The bound rig as plain values: one layout for rig.npz, the 'bind' reply and the add-on.

A rig is the set of named fields in ``FIELDS``. rig.npz stores every field as an array under its
name. The service's 'bind' reply carries the fields the add-on builds Blender data from (it has
the mesh already): arrays as arrays, the rest as JSON data, under their reply names. Readers and
writers go through ``to_npz``/``from_npz`` and ``to_reply``/``from_reply``, which check every
field's type and shape, so a damaged file or a reply from another version fails with one clear
error instead of a wrong rig.

Shapes are written with symbols, bound across fields while checking: V vertices, F faces,
J joints, E expressions, P pose correctives (0 or 9 per non-root joint), S identity and
X expression coefficients of the fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .correctives import ENTRIES_PER_JOINT
from .errors import PanoRigError


@dataclass(frozen=True)
class Field:
    # array: numpy array (binary in the reply); names: strings; text: one string;
    # number: one float; vector: floats (a JSON list in the reply)
    kind: Literal["array", "names", "text", "number", "vector"]
    shape: tuple[str | int, ...] = ()
    dtype: str = "float64"  # arrays only
    reply: str = ""  # the field's name in the 'bind' reply; "" = only in rig.npz


FIELDS: dict[str, Field] = {
    "vertices": Field("array", ("V", 3), "float32"),
    "faces": Field("array", ("F", 3), "int32"),
    "weights": Field("array", ("V", "J"), "float32", reply="weights"),
    "joints": Field("array", ("J", 3), "float32", reply="joints"),  # rest positions
    "parents": Field("array", ("J",), "int32", reply="parents"),  # -1 for the root
    "joint_names": Field("names", ("J",), reply="joint_names"),
    # displacement per unit expression coefficient
    "expressions": Field("array", ("E", "V", 3), "float32", reply="expressions"),
    "expression_names": Field("names", ("E",), reply="expression_names"),
    # displacement per unit of the corrective's entry of R - I (see correctives.py)
    "pose_correctives": Field("array", ("P", "V", 3), "float32", reply="pose_correctives"),
    "model_name": Field("text", reply="model_name"),
    "release": Field("text", reply="release"),  # the FLAME release sequences must match
    "matched": Field("array", ("V",), "bool"),  # vertices that found the model surface
    # The fit of the model to the head: head = scale * model + offset.
    "fit_scale": Field("number", reply="scale"),
    "fit_offset": Field("vector", (3,), reply="offset"),
    "fit_shape": Field("vector", ("S",)),
    "fit_expression": Field("vector", ("X",)),
    "fit_residual": Field("number", reply="residual"),  # head units
    "fit_head_size": Field("number"),  # model crown-to-chin height, head units
}
REPLY_FIELDS = tuple(name for name, field in FIELDS.items() if field.reply)


def to_npz(fields: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Every field of the rig as an array (strings as unicode arrays), for ``np.savez``."""
    values = _checked(fields, FIELDS)
    return {name: np.asarray(value, _npz_dtype(FIELDS[name])) for name, value in values.items()}


def from_npz(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The rig's fields from rig.npz's arrays (``np.load`` of a file ``to_npz`` wrote)."""
    return _checked(arrays, FIELDS)


def to_reply(fields: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The 'bind' reply: (JSON data, arrays). The data adds two figures for the user:
    ``relative_residual`` (fit residual / head size) and ``matched`` (a count of vertices)."""
    values = _checked(fields, FIELDS)
    data: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for name in REPLY_FIELDS:
        field, value = FIELDS[name], values[name]
        if field.kind == "array":
            arrays[field.reply] = value
        else:
            data[field.reply] = _json(value)
    data["relative_residual"] = values["fit_residual"] / values["fit_head_size"]
    data["matched"] = int(np.count_nonzero(values["matched"]))
    return data, arrays


def from_reply(data: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The fields a 'bind' reply carries (``REPLY_FIELDS``), under their layout names."""
    present = {}
    for name in REPLY_FIELDS:
        field = FIELDS[name]
        part = arrays if field.kind == "array" else data
        if field.reply in part:
            present[name] = part[field.reply]
    return _checked(present, REPLY_FIELDS)


def _npz_dtype(field: Field) -> str:
    return {"array": field.dtype, "names": "str", "text": "str"}.get(field.kind, "float64")


def _json(value: Any) -> Any:
    """Vectors and names as lists; numbers and text are JSON types already."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    return list(value) if isinstance(value, tuple) else value


def _checked(source: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The named fields with their layout's type; every shape checked against the symbols."""
    sizes: dict[str, int] = {}
    values = {}
    for name in names:
        if name not in source:
            raise _error(f"the rig has no '{name}'.")
        field, raw = FIELDS[name], source[name]
        shape = np.shape(raw)
        if not _fits(shape, field.shape, sizes):
            wanted = ", ".join(f"{d}={sizes[d]}" if d in sizes else str(d) for d in field.shape)
            raise _error(f"the rig's '{name}' has shape {shape}, expected ({wanted}).")
        try:
            values[name] = _typed(field, raw)
        except (TypeError, ValueError) as exc:
            raise _error(f"the rig's '{name}' is not {field.kind} data ({exc}).") from None
    p, j = sizes.get("P", 0), sizes.get("J", 1)
    expected = ENTRIES_PER_JOINT * (j - 1)
    if p not in (0, expected):
        raise _error(f"the rig has {p} pose correctives for {j} joints; expected 0 or {expected}.")
    return values


def _fits(shape: tuple[int, ...], wanted: tuple[str | int, ...], sizes: dict[str, int]) -> bool:
    """Whether ``shape`` is ``wanted``; a symbol seen for the first time is bound in ``sizes``."""
    return len(shape) == len(wanted) and all(
        n == (sizes.setdefault(d, n) if isinstance(d, str) else d)
        for d, n in zip(wanted, shape, strict=True)
    )


def _typed(field: Field, raw: Any) -> Any:
    if field.kind == "names":
        return tuple(str(name) for name in np.asarray(raw).tolist())
    if field.kind == "text":
        return str(np.asarray(raw).item())
    if field.kind == "number":
        return float(raw)
    if field.kind == "vector":
        return np.asarray(raw, np.float64)
    array = np.asarray(raw)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"found {array.dtype}")
    return np.ascontiguousarray(array, field.dtype)


def _error(message: str) -> PanoRigError:
    return PanoRigError(
        message,
        "The rig was written by another PanoRig version or is damaged; bind the head again.",
    )
