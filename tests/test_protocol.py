"""The wire protocol: round trips and strict validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backend.common import protocol
from backend.common.protocol import Message, ProtocolError, decode, encode


def test_round_trip_with_arrays():
    vertices = np.random.rand(100, 3).astype(np.float32)
    texture = np.random.randint(0, 255, (16, 16, 3), dtype=np.uint8)
    msg = Message("result", job="j1", data={"seconds": 1.5}, arrays={"v": vertices, "t": texture})
    out = decode([bytes(f) for f in encode(msg)])
    assert out.kind == "result" and out.job == "j1" and out.data == {"seconds": 1.5}
    assert np.array_equal(out.arrays["v"], vertices) and out.arrays["t"].dtype == np.uint8


def test_empty_arrays_round_trip():
    msg = Message("result", job="j", arrays={"none": np.zeros((0, 5, 3), np.float32)})
    out = decode([bytes(f) for f in encode(msg)])
    assert out.arrays["none"].shape == (0, 5, 3)


@pytest.mark.parametrize(
    "msg",
    [
        protocol.request("generate", {"seed": 3}),
        Message("progress", job="j", fraction=0.25, stage="density"),
        protocol.error("j", "bad_parameter", "seed must be an int", "Fix it."),
        Message("ping", job="p"),
        Message("pong", job="p", data={"device": "cpu"}),
        Message("cancel", job="j"),
        Message("accepted", job="j", op="generate"),
    ],
)
def test_every_kind_round_trips(msg):
    out = decode(encode(msg))
    assert (out.kind, out.job, out.op, out.params, out.code, out.stage) == (
        msg.kind,
        msg.job,
        msg.op,
        msg.params,
        msg.code,
        msg.stage,
    )


def _header(**changes):
    header = {"v": 1, "kind": "ping", "job": "x", "data": {}, "arrays": []}
    header.update(changes)
    return json.dumps(header).encode()


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([b"not json"], "malformed"),
        ([b"[1, 2]"], "malformed"),
        ([_header(v=99)], "version_mismatch"),
        ([_header(kind="shutdown")], "bad_kind"),
        ([_header(job=5)], "malformed"),
        (
            [_header(arrays=[{"name": "a", "dtype": "float32", "shape": [2], "nbytes": 8}])],
            "malformed",
        ),  # frame missing
        (
            [
                _header(arrays=[{"name": "a", "dtype": "float32", "shape": [3], "nbytes": 12}]),
                b"\0" * 8,
            ],
            "bad_array",
        ),  # frame of the wrong size
        (
            [
                _header(arrays=[{"name": "a", "dtype": "object", "shape": [1], "nbytes": 8}]),
                b"\0" * 8,
            ],
            "bad_array",
        ),
        (
            [_header(arrays=[{"name": "a", "dtype": "uint8", "shape": [-1], "nbytes": 0}]), b""],
            "bad_array",
        ),
        ([b"x" * (protocol.MAX_HEADER_BYTES + 1)], "too_large"),
    ],
)
def test_invalid_messages_are_refused(frames, code):
    with pytest.raises(ProtocolError) as err:
        decode(frames)
    assert err.value.code == code


def test_version_mismatch_tells_what_to_update():
    with pytest.raises(ProtocolError) as err:
        decode([_header(v=2)])
    assert "Update the PanoRig add-on and the backend" in err.value.hint


def test_size_limit():
    big = _header(arrays=[{"name": "a", "dtype": "uint8", "shape": [2048], "nbytes": 2048}])
    with pytest.raises(ProtocolError) as err:
        decode([big, b"\0" * 2048], max_bytes=1024)
    assert err.value.code == "too_large"


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("tcp://127.0.0.1:5577", True),
        ("tcp://localhost:1", True),
        ("tcp://[::1]:5", True),
        ("ipc:///tmp/x", True),
        ("tcp://0.0.0.0:5577", False),
        ("tcp://10.0.0.2:5577", False),
        ("tcp://gpu-box:5577", False),
    ],
)
def test_loopback_addresses(address, loopback):
    assert protocol.is_loopback(address) is loopback


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"[" * 30_000, "nests deeper"),
        (
            b'{"v":1,"kind":"ping","job":"x","data":{"a":' + b"9" * 5000 + b'},"arrays":[]}',
            "digits",
        ),
        (
            b'{"v":1,"kind":"ping","job":"x","data":{"a":1.' + b"5" * 400 + b'},"arrays":[]}',
            "digits",
        ),
        (_header(kind="progress", fraction=10**400, stage="s"), "digits"),
        (_header(job="\u00e9" * 11_000), "exceeds"),
        (_header(job="\u00e9" * 100), "'job' must be at most 64"),
        (_header(kind="k" * 10_000), "unknown message kind"),
        (b"\xff\xfe not utf-8", "not UTF-8"),
    ],
)
def test_hostile_headers_are_refused_cheaply(raw, words):
    with pytest.raises(ProtocolError) as err:
        decode([raw])
    assert words in err.value.message
    # Whatever was sent, the error about it is short enough to send back.
    reply = protocol.error("", err.value.code, err.value.message, err.value.hint)
    assert len(encode(reply)[0]) < 1024


def test_brackets_inside_strings_do_not_count_as_nesting():
    out = decode([_header(data={"note": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["})])
    assert out.data["note"].startswith("[[[")


def test_too_many_arrays_are_refused():
    specs = [{"name": f"a{i}", "dtype": "uint8", "shape": [0], "nbytes": 0} for i in range(40)]
    with pytest.raises(ProtocolError, match="at most 32 arrays"):
        decode([_header(arrays=specs), *([b""] * 40)])


def test_a_reply_too_large_to_encode_becomes_a_short_error():
    big = Message("result", job="j", data={"text": "x" * (protocol.MAX_HEADER_BYTES + 10)})
    frames = protocol.encode_or_error(big)
    out = decode(frames)
    assert out.kind == "error" and out.job == "j" and out.code == "internal"
    assert len(frames[0]) < 1024
