"""PanoRig's wire protocol between the Blender add-on (DEALER) and the backend (ROUTER).

Standard library + numpy only: ``build_addon.py`` vendors it into the add-on, so it is
the single definition of the messages on both sides. A message is a multipart ZeroMQ message:
one UTF-8 JSON header, then one raw frame per array the header lists (dtype, shape, byte size).
Nothing received is ever unpickled or evaluated; every header and frame is validated.

Header fields: ``v`` (protocol version), ``kind``, ``job`` (job id), and per kind:
- request: ``op``, ``params``;       accepted: ``op``;     cancel: (job only)
- progress: ``fraction``, ``stage`` (+ optional array ``preview``, uint8 [H, W, 3]);
- result: ``data`` (JSON values);     error: ``code``, ``message``, ``hint``;
- ping / pong: ``data`` (e.g. server info in a pong).
Arrays ride in ``arrays``: a list of {name, dtype, shape, nbytes}, in frame order.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import numpy as np

from .errors import CodedError

PROTOCOL_VERSION = 1
KINDS = ("request", "accepted", "progress", "result", "error", "cancel", "ping", "pong")
DTYPES = ("uint8", "int32", "uint32", "int64", "float32", "float64")
MAX_HEADER_BYTES = 64 * 1024
MAX_DIMS = 4
MAX_REQUEST_BYTES = 64 * 2**20  # requests carry parameters and small images, never meshes
MAX_REPLY_BYTES = 2 * 2**30  # a 4096^2 texture and a dense mesh fit easily
# Bounds on what a header may hold, so that no message can make the parser recurse, build huge
# numbers or make a reply that echoes it too large to send.
MAX_DEPTH = 16
MAX_DIGITS = 32
MAX_ID = 64  # job ids, op names, array names: [A-Za-z0-9_.:-]
MAX_ARRAYS = 32
_ID = re.compile(r"[A-Za-z0-9_.:-]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


class ProtocolError(CodedError):
    """A message that breaks the protocol: machine-readable ``code``, ``hint`` says what to do."""


@dataclass
class Message:
    kind: str
    job: str = ""
    op: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    fraction: float = 0.0
    stage: str = ""
    code: str = ""
    message: str = ""
    hint: str = ""


def new_job_id() -> str:
    return uuid.uuid4().hex


def request(op: str, params: dict[str, Any] | None = None, job: str | None = None) -> Message:
    return Message("request", job=job or new_job_id(), op=op, params=dict(params or {}))


def error(job: str, code: str, message: str, hint: str = "") -> Message:
    return Message("error", job=job, code=code, message=message, hint=hint)


def encode(msg: Message) -> list[bytes | memoryview]:
    """Message -> frames [header, array frames...]; arrays are sent without copying."""
    if msg.kind not in KINDS:
        raise ProtocolError("bad_kind", f"unknown message kind {msg.kind!r}")
    header: dict[str, Any] = {"v": PROTOCOL_VERSION, "kind": msg.kind, "job": msg.job}
    if msg.kind == "request":
        header.update(op=msg.op, params=msg.params)
    elif msg.kind == "accepted":
        header["op"] = msg.op
    elif msg.kind == "progress":
        header.update(fraction=float(msg.fraction), stage=msg.stage)
    elif msg.kind == "error":
        header.update(code=msg.code, message=msg.message, hint=msg.hint)
    if msg.kind in ("result", "ping", "pong"):
        header["data"] = msg.data
    frames: list[bytes | memoryview] = []
    specs = []
    for name, array in msg.arrays.items():
        array = np.ascontiguousarray(array)
        if array.dtype.name not in DTYPES:
            raise ProtocolError("bad_array", f"array {name!r} has unsupported dtype {array.dtype}")
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        specs.append(
            {
                "name": name,
                "dtype": array.dtype.name,
                "shape": list(array.shape),
                "nbytes": array.nbytes,
            }
        )
        # memoryview cannot cast empty arrays; an empty frame carries them
        frames.append(memoryview(array).cast("B") if array.size else b"")
    header["arrays"] = specs
    data = json.dumps(header, allow_nan=False, separators=(",", ":")).encode()
    if len(data) > MAX_HEADER_BYTES:
        raise ProtocolError(
            "too_large",
            f"message header of {len(data)} bytes exceeds the {MAX_HEADER_BYTES} byte limit",
        )
    return [data, *frames]


def encode_or_error(msg: Message) -> list[bytes | memoryview]:
    """``encode``, but a message the protocol cannot carry becomes a short error that it can:
    whatever a reply holds, something always goes back."""
    try:
        return encode(msg)
    except (ProtocolError, TypeError, ValueError) as exc:
        job = msg.job if is_valid_id(msg.job) else ""
        return encode(error(job, "internal", f"The reply could not be sent: {shorten(str(exc))}"))


def is_valid_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_ID and _ID.fullmatch(value) is not None


def shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decode(frames: list[Any], max_bytes: int = MAX_REPLY_BYTES) -> Message:
    """Frames (bytes or zmq Frames) -> Message, validating everything; raises ProtocolError."""
    if not frames:
        raise ProtocolError("malformed", "empty message")
    header = _parse_header(_bytes_of(frames[0]))
    version = header.get("v")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            "version_mismatch",
            f"protocol version {shorten(repr(version), 40)} does not match this side's "
            f"{PROTOCOL_VERSION}",
            "Update the PanoRig add-on and the backend to the same release.",
        )
    kind = _field(header, "kind", str)
    if kind not in KINDS:
        raise ProtocolError("bad_kind", f"unknown message kind {shorten(repr(kind), 40)}")
    msg = Message(kind, job=_id_field(header, "job"))
    if kind == "request":
        msg.op = _id_field(header, "op")
        msg.params = _field(header, "params", dict)
    elif kind == "accepted":
        msg.op = _id_field(header, "op")
    elif kind == "progress":
        msg.fraction = float(_field(header, "fraction", (int, float)))
        msg.stage = _field(header, "stage", str)
        if not 0.0 <= msg.fraction <= 1.0:
            raise ProtocolError("malformed", f"progress fraction {msg.fraction} outside [0, 1]")
    elif kind == "error":
        msg.code = _field(header, "code", str)
        msg.message = _field(header, "message", str)
        msg.hint = _field(header, "hint", str)
    if kind in ("result", "ping", "pong"):
        msg.data = _field(header, "data", dict)
    msg.arrays = _decode_arrays(_field(header, "arrays", list), frames[1:], max_bytes)
    return msg


def _parse_header(raw: memoryview) -> dict:
    """The JSON header, bounded in size, nesting and number length before it is parsed."""
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(
            "too_large",
            f"message header of {len(raw)} bytes exceeds the {MAX_HEADER_BYTES} byte limit",
        )
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("malformed", "message header is not UTF-8 text") from None
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > MAX_DEPTH:
            raise ProtocolError("malformed", f"message header nests deeper than {MAX_DEPTH}")
    try:
        header = json.loads(text, parse_int=_bounded(int), parse_float=_bounded(float))
    except json.JSONDecodeError as exc:
        raise ProtocolError("malformed", f"message header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ProtocolError("malformed", "message header is not a JSON object")
    return header


def _bounded(kind: type) -> Any:
    def parse(text: str) -> int | float:
        if len(text) > MAX_DIGITS:
            raise ProtocolError(
                "malformed", f"a number in the message header has over {MAX_DIGITS} digits"
            )
        return kind(text)

    return parse


def _decode_arrays(specs: list, frames: list[Any], max_bytes: int) -> dict[str, np.ndarray]:
    if len(specs) > MAX_ARRAYS:
        raise ProtocolError("malformed", f"a message carries at most {MAX_ARRAYS} arrays")
    if len(specs) != len(frames):
        raise ProtocolError(
            "malformed", f"header lists {len(specs)} arrays but {len(frames)} frames arrived"
        )
    arrays: dict[str, np.ndarray] = {}
    total = 0
    for spec, frame in zip(specs, frames, strict=True):
        if not isinstance(spec, dict):
            raise ProtocolError("malformed", "array description is not an object")
        name = _id_field(spec, "name")
        dtype = _field(spec, "dtype", str)
        shape = _field(spec, "shape", list)
        nbytes = _field(spec, "nbytes", int)
        if dtype not in DTYPES:
            raise ProtocolError("bad_array", f"array {name!r} has unsupported dtype {dtype!r}")
        if len(shape) > MAX_DIMS or not all(type(d) is int and d >= 0 for d in shape):
            raise ProtocolError("bad_array", f"array {name!r} has an invalid shape {shape}")
        expected = math.prod(shape) * np.dtype(dtype).itemsize
        total += expected
        if total > max_bytes:
            raise ProtocolError(
                "too_large",
                f"message arrays exceed the {max_bytes // 2**20} MiB limit",
                "Send smaller inputs.",
            )
        buffer = _bytes_of(frame)
        if nbytes != expected or len(buffer) != expected:
            raise ProtocolError(
                "bad_array",
                f"array {name!r} frame has {len(buffer)} bytes; {dtype}{shape} needs {expected}",
            )
        if name in arrays:
            raise ProtocolError("malformed", f"array {name!r} appears twice")
        arrays[name] = np.frombuffer(buffer, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)
    return arrays


def _bytes_of(frame: Any) -> memoryview:
    buffer = getattr(frame, "buffer", frame)  # zmq.Frame exposes .buffer (zero-copy)
    return memoryview(buffer).cast("B")


def _id_field(obj: dict, key: str) -> str:
    value = _field(obj, key, str)
    if not is_valid_id(value):
        raise ProtocolError(
            "malformed",
            f"header field {key!r} must be at most {MAX_ID} letters, digits or _.:-",
        )
    return value


def _field(obj: dict, key: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind in (int, (int, float)):
        expected = kind.__name__ if isinstance(kind, type) else "number"
        raise ProtocolError("malformed", f"header field {key!r} missing or not a {expected}")
    return value


def is_loopback(address: str) -> bool:
    """True for tcp://127.0.0.1:PORT, tcp://localhost:PORT, tcp://[::1]:PORT, ipc:// and inproc://."""
    scheme = address.split("://", 1)[0]
    if scheme in ("ipc", "inproc"):
        return True
    host = urlparse(address).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
