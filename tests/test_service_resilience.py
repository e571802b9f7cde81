"""The backend never drops a head and never falls over: its worker process, hostile messages,
clients that vanish or never read, jobs that hold the interpreter lock or die."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from backend.common import protocol
from backend.service import Service, server
from blender_addon.client import BackendSession

from .hostile import array_spec, header, hostile_message
from .test_service import Client

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = "fixtures/panohead_tiny/G_tiny.pkl"
QUICK_HEAD = {"seed": 1, "resolution": 48, "faces": 1500, "level": 0.0, "texture": 0}


def _run(svc: Service):
    thread = threading.Thread(target=svc.serve_forever, daemon=True)
    thread.start()
    return thread


def _service(shared_dir):
    svc = Service("tcp://127.0.0.1:*", checkpoint=str(shared_dir / FIXTURE), device="cpu")
    thread = _run(svc)
    yield svc
    svc.stopping.set()
    thread.join(10)
    assert not thread.is_alive()


@pytest.fixture(scope="module")
def service(shared_dir):
    yield from _service(shared_dir)


@pytest.fixture
def expendable(shared_dir):
    """A service of the test's own, for tests that kill or restart its worker."""
    yield from _service(shared_dir)


def test_fuzzing_neither_crashes_nor_hangs_the_service(service):
    rng = random.Random(1234)
    victim = Client(service.address)
    victim.send(protocol.request("sleep", {"steps": 30, "step": 0.05}, job="victim-job"))
    assert victim.recv(5).kind == "accepted"
    worker_pid = Client(service.address).ping().data["worker_pid"]
    fuzzers = [Client(service.address) for _ in range(4)]
    sent, start = 0, time.monotonic()
    for n in range(1990):
        if time.monotonic() - start > 40:
            break
        category, frames = hostile_message(rng, n)
        fuzzers[n % len(fuzzers)].send_raw(frames)
        sent += 1
        if n % 50 == 0:  # replies are not awaited, but each fuzzer reads some back
            while fuzzers[n % len(fuzzers)].socket.poll(0):
                fuzzers[n % len(fuzzers)].socket.recv_multipart()
    # A cancel of someone else's job is refused, and that job goes on.
    fuzzers[0].send(protocol.Message("cancel", job="victim-job"))
    # A client that disconnects in the middle of a job, and one that never reads.
    gone = Client(service.address)
    gone.send(protocol.request("sleep", {"steps": 5, "step": 0.05}))
    gone.close()
    deaf = Client(service.address)
    for _ in range(1000):
        deaf.send(protocol.Message("ping", job="deaf"))
    # Frames over the size limit: the service drops that connection, nothing else.
    big = Client(service.address)
    big.send_raw([header(arrays=[array_spec("a", "uint8", (70 * 2**20,), 70 * 2**20)]),
                  np.zeros(70 * 2**20, np.uint8).tobytes()])  # fmt: skip
    sent += 1004
    assert sent <= 3000 and time.monotonic() - start < 60

    fresh = Client(service.address)
    t = time.monotonic()
    pong = fresh.ping()
    assert time.monotonic() - t < 1.0
    assert pong.data["worker_pid"] == worker_pid  # the worker never died
    victim_end = victim.until(("result", "error"), 30)[-1]
    assert victim_end.kind == "result", victim_end
    fresh.send(protocol.request("generate", dict(QUICK_HEAD, preview=False)))
    result = fresh.until(("result", "error"), 120)[-1]
    assert result.kind == "result" and len(result.arrays["faces"]) > 500
    for client in (*fuzzers, deaf, big, fresh, victim):
        client.close()


def test_foreign_cancel_is_refused_and_jobs_are_private(service):
    owner, other = Client(service.address), Client(service.address)
    owner.send(protocol.request("sleep", {"steps": 20, "step": 0.05}, job="owned-job"))
    assert owner.recv(5).kind == "accepted"
    other.send(protocol.Message("cancel", job="owned-job"))
    refusal = other.until(("error",), 5)[-1]
    assert refusal.code == "not_your_job"
    assert [j["job"] for j in owner.ping().data["jobs"]] == ["owned-job"]
    assert other.ping().data["jobs"] == []
    assert owner.until(("result", "error"), 30)[-1].kind == "result"


def test_pings_are_answered_while_a_job_holds_the_interpreter_lock(service):
    """30 s of a native call that never releases the lock, and the add-on's own client with a
    5 s timeout: no ping is late and the result arrives."""
    session = BackendSession(service.address, timeout=5.0)
    session.ping()
    _poll_until(session, "connected")
    job = session.request("hold", {"seconds": 30})
    pinger = Client(service.address)
    worst, pongs, events = 0.0, 0, []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        batch = session.poll()
        events += batch
        if any(e.kind in ("result", "error", "lost") for e in batch):
            break
        t = time.monotonic()
        pinger.ping()
        worst, pongs = max(worst, time.monotonic() - t), pongs + 1
        time.sleep(max(0.0, 0.5 - (time.monotonic() - t)))
    kinds = [e.kind for e in events]
    assert "lost" not in kinds
    assert events[-1].kind == "result" and events[-1].job == job, kinds
    assert pongs >= 40 and worst <= 0.5, (pongs, worst)
    print(f"held the lock 30 s: {pongs} pings, worst pong {worst * 1000:.0f} ms")
    session.close()
    pinger.close()


def test_a_request_before_the_connection_exists_is_refused_not_lost():
    session = BackendSession("tcp://127.0.0.1:9")  # nothing listens there
    with pytest.raises(protocol.ProtocolError, match="not connected") as err:
        session.request("sleep", {})
    assert err.value.code == "not_connected" and not session.jobs
    session.close()


def _poll_until(session: BackendSession, kind: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(e.kind == kind for e in session.poll()):
        assert time.monotonic() < deadline, f"no {kind} event"
        time.sleep(0.02)


def test_a_killed_worker_costs_only_its_job(expendable):
    client = Client(expendable.address)
    client.send(protocol.request("sleep", {"steps": 200, "step": 0.05}, job="doomed"))
    client.send(protocol.request("sleep", {"steps": 2, "step": 0.01}, job="queued"))
    assert client.until(("progress",), 10)
    pid = client.ping().data["worker_pid"]
    os.kill(pid, signal.SIGKILL)
    t = time.monotonic()
    error = client.until(("error",), 5)[-1]
    assert time.monotonic() - t < 5
    assert error.job == "doomed" and error.code == "worker_lost"
    assert "worker stopped (killed by SIGKILL); the job was lost" in error.message
    assert "Retry" in error.hint
    # The queued job runs on the new worker, and so does the next one.
    assert client.until(("result", "error"), 60)[-1].job == "queued"
    client.send(protocol.request("sleep", {"steps": 2, "step": 0.01}))
    assert client.until(("result", "error"), 60)[-1].kind == "result"
    assert client.ping().data["worker_pid"] != pid


def test_cancelling_a_job_stuck_in_native_code_restarts_its_worker(expendable, monkeypatch):
    monkeypatch.setattr(server, "CANCEL_GRACE", 1.0)
    client = Client(expendable.address)
    job = protocol.request("hold", {"seconds": 60})
    client.send(job)
    client.until(("progress",), 10)
    t = time.monotonic()
    client.send(protocol.Message("cancel", job=job.job))
    reply = client.until(("error",), 10)[-1]
    assert reply.code == "cancelled" and time.monotonic() - t < 5
    client.send(protocol.request("sleep", {"steps": 2, "step": 0.01}))
    assert client.until(("result", "error"), 60)[-1].kind == "result"


def test_a_reconnecting_client_gets_its_jobs_back(service):
    identity = b"panorig-test-reconnect"
    first = Client(service.address, routing_id=identity)
    first.send(protocol.request("sleep", {"steps": 10, "step": 0.05}, job="done-while-away"))
    first.send(protocol.request("sleep", {"steps": 60, "step": 0.05}, job="running-on"))
    assert first.recv(5).kind == "accepted"
    first.close()  # Connect pressed again: the socket goes, the identity stays
    time.sleep(1.5)  # the first job finishes while nobody listens

    second = Client(service.address, routing_id=identity)
    second.send(protocol.Message("ping", job="p"))
    messages = second.until(("pong",), 5)
    held = [m for m in messages if m.kind == "result"]
    assert [m.job for m in held] == ["done-while-away"]
    jobs = {j["job"]: j for j in messages[-1].data["jobs"]}
    assert set(jobs) == {"running-on"} and jobs["running-on"]["state"] == "running"
    assert jobs["running-on"]["stage"].startswith("step")
    assert second.until(("result", "error"), 30)[-1].job == "running-on"


def test_requests_over_the_size_limit_are_answered_too_large(service):
    client = Client(service.address)
    half = protocol.MAX_REQUEST_BYTES // 2 + 2**20
    specs = [array_spec(n, "uint8", (half,), half) for n in ("a", "b")]
    client.send_raw([header(op="bind", arrays=specs), b"\0" * half, b"\0" * half])
    reply = client.until(("error",), 10)[-1]
    assert reply.code == "too_large" and "MiB" in reply.message and reply.hint
    # The add-on's client says so itself, before sending anything.
    session = BackendSession(service.address)
    session.ping()
    _poll_until(session, "connected")
    heavy = {"vertices": np.zeros((protocol.MAX_REQUEST_BYTES // 12 + 1, 3), np.float32)}
    with pytest.raises(protocol.ProtocolError, match="decimate") as err:
        session.request("bind", {}, heavy)
    assert err.value.code == "too_large"
    session.close()


def test_sigterm_stops_the_service_promptly_with_a_client_that_never_reads(tmp_path):
    log = tmp_path / "serve.log"
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "backend", "serve", "--bind", f"tcp://127.0.0.1:{port}",
         "--checkpoint", "random:tiny", "--device", "cpu"],
        cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "listening" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        deaf = zmq.Context.instance().socket(zmq.DEALER)
        deaf.setsockopt(zmq.LINGER, 0)
        deaf.setsockopt(zmq.RCVHWM, 1)
        deaf.connect(f"tcp://127.0.0.1:{port}")
        for _ in range(20_000):
            deaf.send_multipart(protocol.encode(protocol.Message("ping", job="deaf")))
        time.sleep(1.0)
        t = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        assert time.monotonic() - t < 2.0
        assert "stopped" in log.read_text()
        deaf.close()
    finally:
        if process.poll() is None:
            process.kill()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
