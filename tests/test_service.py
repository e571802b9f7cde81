"""The backend service: routing, progress, cancel, robustness and CURVE security."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import zmq

from backend.common import protocol
from backend.service import Service, make_keys

FIXTURE = "fixtures/panohead_tiny/G_tiny.pkl"


@pytest.fixture(scope="module")
def service(shared_dir):
    """One service for the module's tests (its worker takes seconds to start); each test
    uses clients of its own."""
    svc = Service("tcp://127.0.0.1:*", checkpoint=str(shared_dir / FIXTURE), device="cpu")
    thread = threading.Thread(target=svc.serve_forever, daemon=True)
    thread.start()
    yield svc
    svc.stopping.set()
    thread.join(10)
    assert not thread.is_alive()


class Client:
    def __init__(self, address: str, **curve) -> None:
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        for key, value in curve.items():
            setattr(self.socket, key, value)
        self.socket.connect(address)

    def send(self, msg: protocol.Message) -> None:
        self.socket.send_multipart(protocol.encode(msg))

    def send_raw(self, frames: list[bytes]) -> None:
        self.socket.send_multipart(frames)

    def recv(self, timeout: float = 10.0) -> protocol.Message | None:
        if not self.socket.poll(int(timeout * 1000)):
            return None
        return protocol.decode(self.socket.recv_multipart())

    def until(self, kinds: tuple[str, ...], timeout: float = 60.0) -> list[protocol.Message]:
        """Messages up to and including the first of ``kinds``."""
        seen, end = [], time.monotonic() + timeout
        while time.monotonic() < end:
            msg = self.recv(end - time.monotonic())
            if msg is None:
                break
            seen.append(msg)
            if msg.kind in kinds:
                return seen
        raise AssertionError(f"no {kinds} within {timeout} s; got {[m.kind for m in seen]}")

    def ping(self) -> protocol.Message:
        self.send(protocol.Message("ping", job="p"))
        return self.until(("pong",), 5)[-1]

    def close(self) -> None:
        self.socket.close()


def test_ping_reports_the_service(service):
    client = Client(service.address)
    pong = client.ping()
    assert pong.data["device"] == "cpu" and pong.data["protocol"] == protocol.PROTOCOL_VERSION
    assert "generate" in pong.data["operations"]


GENERATE = {"seed": 0, "resolution": 48, "faces": 2000, "texture": 256, "views": 2, "level": 0.0}


def test_generate_streams_progress_and_returns_a_textured_mesh(service):
    client = Client(service.address)
    request = protocol.request("generate", GENERATE)
    client.send(request)
    messages = client.until(("result", "error"), 120)
    kinds = [m.kind for m in messages]
    assert kinds[0] == "accepted" and kinds[-1] == "result", messages[-1]
    stages = [m.stage for m in messages if m.kind == "progress"]
    assert "density" in " ".join(stages) and "UV unwrap" in stages
    fractions = [m.fraction for m in messages if m.kind == "progress" and m.stage != "preview"]
    assert fractions == sorted(fractions)
    preview = [m for m in messages if "preview" in m.arrays]
    assert preview and preview[0].arrays["preview"].shape[2] == 3
    result = messages[-1]
    v, f = result.arrays["vertices"], result.arrays["faces"]
    assert v.shape[1] == 3 and f.max() < len(v) and 1000 <= len(f) <= 2000
    assert result.arrays["texture"].shape == (256, 256, 3)
    assert result.arrays["uv"].shape == (len(v), 2)


def _assert_still_serving(service):
    client = Client(service.address)
    assert client.ping().kind == "pong"
    client.send(protocol.request("sleep", {"steps": 2, "step": 0.01}))
    assert client.until(("result", "error"))[-1].kind == "result"
    client.close()


def _header(**changes) -> bytes:
    header = {"v": 1, "kind": "request", "job": "j", "op": "sleep", "params": {}, "arrays": []}
    header.update(changes)
    return json.dumps(header).encode()


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([b"{not json"], "malformed"),
        (
            [
                _header(arrays=[{"name": "a", "dtype": "float32", "shape": [4], "nbytes": 16}]),
                b"\0" * 10,
            ],
            "bad_array",
        ),
        ([_header(op="format_disk")], "unknown_op"),
        ([_header(v=7)], "version_mismatch"),
        ([_header(kind="result", data={})], "bad_kind"),
    ],
)
def test_bad_messages_get_an_error_and_the_service_keeps_serving(service, frames, code):
    client = Client(service.address)
    client.send_raw(frames)
    reply = client.recv(5)
    assert reply is not None and reply.kind == "error" and reply.code == code
    _assert_still_serving(service)


def test_oversized_frame_is_dropped(service):
    client = Client(service.address)
    big = _header(
        arrays=[{"name": "a", "dtype": "uint8", "shape": [100 * 2**20], "nbytes": 100 * 2**20}]
    )
    client.send_raw([big, np.zeros(100 * 2**20, np.uint8).tobytes()])
    reply = client.recv(3)
    assert reply is None or reply.kind == "error"
    client.close()
    _assert_still_serving(service)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"seed": "seven"}, "bad_parameter"),
        ({"resolution": 5000}, "bad_parameter"),
        ({"resolution": 16}, "bad_parameter"),  # the panel's and the command line's minimum
        ({"texture": 100}, "bad_parameter"),
        ({"colour": "red"}, "bad_parameter"),
        ({"checkpoint": "/no/such/file.pkl"}, "checkpoint"),
    ],
)
def test_job_failures_are_one_sentence_errors(service, params, code):
    client = Client(service.address)
    client.send(protocol.request("generate", params))
    reply = client.until(("result", "error"), 30)[-1]
    assert reply.kind == "error" and reply.code == code
    assert reply.message and "Traceback" not in reply.message
    _assert_still_serving(service)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_in_a_request_is_refused_by_name(service, value):
    client = Client(service.address)
    client.send_raw([_header(op="generate", params={"psi": value})])  # JSON's NaN, Infinity
    reply = client.until(("result", "error"), 30)[-1]
    assert reply.kind == "error" and reply.code == "bad_parameter"
    assert f"psi = {value} is not a finite number" in reply.message and "default" in reply.hint


def test_binding_a_fragment_is_refused_before_fitting(service):
    client = Client(service.address)
    triangle = {
        "vertices": np.eye(3, dtype=np.float32),
        "faces": np.array([[0, 1, 2]], np.int32),
    }
    msg = protocol.request("bind", {"model": "template"})
    msg.arrays = triangle
    client.send(msg)
    reply = client.until(("result", "error"), 30)[-1]
    assert reply.kind == "error" and reply.code == "bad_mesh"
    assert "the mesh has 1 face;" in reply.message and reply.hint
    _assert_still_serving(service)


def test_client_that_disconnects_mid_job(service):
    client = Client(service.address)
    client.send(protocol.request("sleep", {"steps": 5, "step": 0.05}))
    assert client.recv(5).kind == "accepted"
    client.close()
    time.sleep(0.5)  # the job finishes with nobody to send to
    _assert_still_serving(service)


def test_cancel_stops_a_running_job_within_a_second_of_its_step(service):
    client = Client(service.address)
    request = protocol.request("sleep", {"steps": 100, "step": 0.2})
    client.send(request)
    client.until(("progress",))
    start = time.monotonic()
    client.send(protocol.Message("cancel", job=request.job))
    reply = client.until(("result", "error"), 5)[-1]
    assert reply.kind == "error" and reply.code == "cancelled"
    assert time.monotonic() - start < 0.2 + 1.0
    _assert_still_serving(service)


def test_cancel_of_a_queued_job(service):
    client = Client(service.address)
    first = protocol.request("sleep", {"steps": 5, "step": 0.1})
    second = protocol.request("sleep", {"steps": 5, "step": 0.1})
    client.send(first)
    client.send(second)
    client.send(protocol.Message("cancel", job=second.job))
    final: dict[str, protocol.Message] = {}
    while len(final) < 2:
        msg = client.recv(5)
        assert msg is not None, f"replies so far: {final}"
        if msg.kind in ("result", "error"):
            final[msg.job] = msg
    assert final[first.job].kind == "result"
    assert final[second.job].kind == "error" and final[second.job].code == "cancelled"


def test_release_memory(service):
    client = Client(service.address)
    client.send(protocol.request("generate", dict(GENERATE, texture=0)))
    client.until(("result",), 120)
    assert client.ping().data["models"]
    client.send(protocol.request("release_memory"))
    assert client.until(("result",))[-1].data["released_models"] == 1
    assert client.ping().data["models"] == []


def test_non_loopback_bind_needs_keys_or_insecure():
    with pytest.raises(ValueError, match="--curve-keys"):
        Service("tcp://0.0.0.0:5599")


def test_curve_keys_keep_out_clients_without_them(tmp_path):
    keys = make_keys(tmp_path / "keys")
    svc = Service("tcp://127.0.0.1:*", device="cpu", curve_keys=tmp_path / "keys")
    thread = threading.Thread(target=svc.serve_forever, daemon=True)
    thread.start()
    try:
        stranger = Client(svc.address)
        stranger.send(protocol.Message("ping", job="p"))
        assert stranger.recv(1.5) is None
        server_public, _ = zmq.auth.load_certificate(keys["server_public"])
        public, secret = zmq.auth.load_certificate(keys["client_secret"])
        wrong_public, wrong_secret = zmq.curve_keypair()  # right server key, unknown client
        intruder = Client(
            svc.address,
            curve_serverkey=server_public,
            curve_publickey=wrong_public,
            curve_secretkey=wrong_secret,
        )
        intruder.send(protocol.Message("ping", job="p"))
        assert intruder.recv(1.5) is None
        friend = Client(
            svc.address,
            curve_serverkey=server_public,
            curve_publickey=public,
            curve_secretkey=secret,
        )
        assert friend.ping().kind == "pong"
    finally:
        svc.stopping.set()
        thread.join(10)


def test_keys_are_owner_only_and_never_silently_replaced(tmp_path):
    from backend.service.security import KeysError

    keys = make_keys(tmp_path / "keys")
    for role in ("server_secret", "client_secret"):
        assert keys[role].stat().st_mode & 0o777 == 0o600
    before = keys["server_secret"].read_bytes()
    with pytest.raises(KeysError, match="--force"):
        make_keys(tmp_path / "keys")
    assert keys["server_secret"].read_bytes() == before
    again = make_keys(tmp_path / "keys", force=True)
    assert again["server_secret"].read_bytes() != before


@pytest.mark.parametrize(
    "address", ["tcp://127.0.0.1:99999", "tcp://127.0.0.1:0", "tcp://127.0.0.1", "localhost:5577"]
)
def test_a_malformed_bind_address_is_refused(address):
    with pytest.raises(ValueError, match="--bind"):
        Service(address, device="cpu")
