"""The service's front process: a ZeroMQ ROUTER socket, the job ledger and the worker's keeper.

This process never runs a job (``worker.py`` does, in its own process), so it answers every
ping within milliseconds. Nothing a client sends can raise out of the receive loop: messages
are decoded with bounds, every field is checked, every reply is made to fit the protocol's
limits. Sends never block: a client that does not read loses progress messages, and its final
replies are held for it (bounded) until it reads again. Jobs belong to the identity that
submitted them; a client that reconnects with the same identity sees its jobs in its pong and
gets the replies held for it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import zmq
import zmq.auth.thread

from ..common import protocol
from ..common.protocol import is_loopback
from .ledger import Ledger, LedgerError
from .security import check_bind_address, load_server_keys
from .worker import WorkerProcess

POLL_MS = 10
MAX_BATCH = 64  # messages taken per loop turn, so the worker's output is never starved
SEND_HWM = 64  # messages queued per client before sends to it are dropped
CANCEL_GRACE = 10.0  # seconds a cancelled job may take to stop before its worker is restarted
WORKER_START_TIMEOUT = 300.0
CLIENT_KINDS = ("request", "cancel", "ping")


class Service:
    def __init__(
        self,
        bind: str = "tcp://127.0.0.1:5577",
        checkpoint: str | None = None,
        device: str = "auto",
        curve_keys: str | Path | None = None,
        insecure: bool = False,
        head: str | None = None,
    ) -> None:
        check_bind_address(bind)
        if head is not None and not Path(head).is_file():
            raise ValueError(f"--head {head} not found: give a head file made by 'invert'")
        if not is_loopback(bind) and curve_keys is None and not insecure:
            raise ValueError(
                f"refusing to listen on {bind} without encryption: give --curve-keys DIR "
                "(make them with 'python -m backend keys DIR') or --insecure"
            )
        keys = load_server_keys(curve_keys) if curve_keys is not None else None
        self.checkpoint = checkpoint
        self.ledger = Ledger()
        self.stopping = threading.Event()
        self.worker = WorkerProcess(device, checkpoint, head)
        try:
            self.worker.wait_ready(WORKER_START_TIMEOUT)
        except (ValueError, RuntimeError):
            self.worker.kill()
            raise
        self.context = zmq.Context()
        self.auth = None
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 1)  # errors for gone peers, not silence
        self.socket.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a reconnecting client takes its id back
        # libzmq drops a peer whose message part exceeds this: big requests never reach memory.
        self.socket.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_REQUEST_BYTES + 4096)
        self.socket.setsockopt(zmq.SNDHWM, SEND_HWM)
        self.socket.setsockopt(zmq.HEARTBEAT_IVL, 2000)
        self.socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, 6000)
        self.socket.setsockopt(zmq.LINGER, 0)
        if keys is not None:
            public, secret, authorized = keys
            self.auth = zmq.auth.thread.ThreadAuthenticator(self.context)
            self.auth.start()
            self.auth.configure_curve(domain="*", location=str(authorized))
            self.socket.curve_publickey = public
            self.socket.curve_secretkey = secret
            self.socket.curve_server = True
        try:
            self.socket.bind(bind)
        except zmq.ZMQError as exc:
            self.close()
            raise ValueError(
                f"cannot listen on {bind}: {exc.strerror}; is another backend already running "
                "there? Choose another port with --bind"
            ) from None
        self.address = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.dropped = 0  # messages a client could not take (progress, pongs)
        self._restart_at = 0.0
        self._failed_starts = 0

    @property
    def device(self) -> str:
        return self.worker.info.get("device", "?")

    def info(self, peer: bytes, now: float) -> dict:
        running = self.ledger.running
        return {
            "protocol": protocol.PROTOCOL_VERSION,
            **self.worker.info,
            "models": self.worker.models,
            "default_checkpoint": self.checkpoint,
            "default_head": self.worker.head,
            "operations": list(self.worker.operations),
            "running": running.op if running else None,
            "queued": len(self.ledger.queue),
            "jobs": self.ledger.jobs_of(peer, now),  # this client's own jobs, to re-attach
        }

    def serve_forever(self) -> None:
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        last_expire = 0.0
        try:
            while not self.stopping.is_set():
                if poller.poll(POLL_MS):
                    for _ in range(MAX_BATCH):
                        if not self.socket.poll(0, zmq.POLLIN):
                            break
                        self._receive()
                now = time.monotonic()
                self._worker_events(now)
                self._watch_worker(now)
                self._dispatch(now)
                if now - last_expire > 1.0:
                    last_expire = now
                    for record in self.ledger.expire(now):
                        self._send(record.owner, _cancelled(record.id), keep=True)
        finally:
            self.worker.stop()
            self.close()

    def close(self) -> None:
        self.socket.close(linger=0)
        if self.auth is not None:
            self.auth.stop()
        self.context.term()

    # --- from clients --------------------------------------------------------------------------
    def _receive(self) -> None:
        try:
            frames = self.socket.recv_multipart(copy=False, flags=zmq.NOBLOCK)
        except zmq.Again:
            return
        peer = frames[0].bytes
        now = time.monotonic()
        for job, held in self.ledger.heard_from(peer, now):
            self._send_frames(peer, held, keep=job)
        try:
            msg = protocol.decode(frames[1:], max_bytes=protocol.MAX_REQUEST_BYTES)
        except protocol.ProtocolError as exc:
            self._send(peer, protocol.error("", exc.code, exc.message, exc.hint))
            return
        except Exception as exc:  # noqa: BLE001 - no message may stop the service
            self._send(peer, protocol.error("", "malformed", f"unreadable message: {exc}"))
            return
        if msg.kind == "ping":
            self._send(peer, protocol.Message("pong", job=msg.job, data=self.info(peer, now)))
        elif msg.kind == "cancel":
            self._cancel(peer, msg.job, now)
        elif msg.kind == "request":
            self._request(peer, msg, now)
        else:
            self._send(
                peer,
                protocol.error(
                    msg.job,
                    "bad_kind",
                    f"clients may not send {msg.kind!r}",
                    f"Clients send {', '.join(CLIENT_KINDS)}.",
                ),
            )

    def _request(self, peer: bytes, msg: protocol.Message, now: float) -> None:
        if msg.op not in self.worker.operations:
            known = ", ".join(self.worker.operations)
            self._send(
                peer,
                protocol.error(
                    msg.job, "unknown_op", f"unknown operation {msg.op!r}", f"Known: {known}."
                ),
            )
            return
        if not msg.job:
            self._send(peer, protocol.error("", "malformed", "a request needs a job id"))
            return
        try:
            self.ledger.submit(peer, msg.job, msg.op, msg.params, dict(msg.arrays), now)
        except LedgerError as exc:
            self._send(peer, protocol.error(msg.job, exc.code, exc.message, exc.hint))
            return
        self._send(peer, protocol.Message("accepted", job=msg.job, op=msg.op))

    def _cancel(self, peer: bytes, job: str, now: float) -> None:
        try:
            record = self.ledger.cancel(peer, job, now)
        except LedgerError as exc:
            self._send(peer, protocol.error(job, exc.code, exc.message, exc.hint))
            return
        if record.state == "running":
            self.worker.cancel(job)
        else:
            self._send(peer, _cancelled(job), keep=True)

    # --- the worker -------------------------------------------------------------------------
    def _dispatch(self, now: float) -> None:
        if not self.worker.ready:
            return
        record = self.ledger.start_next(now)
        if record is not None:
            self.worker.run(record.id, record.op, record.params, record.arrays)
            record.arrays = {}  # the worker has them; do not keep a second copy

    def _worker_events(self, now: float) -> None:
        for event in self.worker.events():
            kind, job = event[0], event[1] if len(event) > 1 else ""
            if kind == "progress":
                record = self.ledger.progress(job, event[2], event[3], now)
                if record is not None:
                    msg = protocol.Message("progress", job=job, fraction=event[2], stage=event[3])
                    self._send(record.owner, msg)
            elif kind == "preview":
                record = self.ledger.jobs.get(job)
                if record is not None:
                    msg = protocol.Message(
                        "progress",
                        job=job,
                        fraction=record.fraction,
                        stage="preview",
                        arrays={"preview": event[2]},
                    )
                    self._send(record.owner, msg)
            elif kind == "done":
                self._finish(
                    job, protocol.Message("result", job=job, data=event[2], arrays=event[3])
                )
            elif kind == "failed":
                self._finish(job, protocol.error(job, event[2], event[3], event[4]))

    def _finish(self, job: str, msg: protocol.Message) -> None:
        record = self.ledger.finish(job)
        if record is not None:
            self._send(record.owner, msg, keep=True)

    def _watch_worker(self, now: float) -> None:
        """Restart a worker that died, or one whose cancelled job will not stop."""
        running = self.ledger.running
        if not self.worker.alive():
            if now < self._restart_at:
                return
            reason = self.worker.exit_reason()
            # A worker that dies before it is ready (a broken GPU, say) is retried ever slower.
            self._failed_starts = 0 if self.worker.ready else self._failed_starts + 1
            self._restart_at = now + min(2.0**self._failed_starts - 1, 30.0)
            print(f"PanoRig backend: the worker stopped ({reason}); starting another", flush=True)
            self.worker.restart()
            if running is not None:
                self._finish(
                    running.id,
                    protocol.error(
                        running.id,
                        "worker_lost",
                        f"The backend's worker stopped ({reason}); the job was lost.",
                        "Retry; if it happens again, lower the settings or read the log.",
                    ),
                )
        elif (
            running is not None
            and running.cancel_requested is not None
            and now - running.cancel_requested > CANCEL_GRACE
        ):
            # The job is inside a long native call that cannot see the cancel: end it.
            self.worker.restart()
            self._finish(running.id, _cancelled(running.id))

    # --- to clients -------------------------------------------------------------------------
    def _send(self, peer: bytes, msg: protocol.Message, keep: bool = False) -> None:
        """Send without ever blocking; ``keep`` holds a final reply the client cannot take
        now (gone, or not reading) until it is heard from again."""
        self._send_frames(peer, protocol.encode_or_error(msg), keep=msg.job if keep else None)

    def _send_frames(self, peer: bytes, frames: list, keep: str | None) -> None:
        try:
            self.socket.send_multipart([peer, *frames], copy=False, flags=zmq.NOBLOCK)
        except zmq.ZMQError:  # Again (client not reading) or EHOSTUNREACH (client gone)
            if keep is not None:
                frames = [bytes(f) for f in frames]  # own the bytes: arrays may be views
                self.ledger.hold(peer, keep, frames, time.monotonic())
            else:
                self.dropped += 1


def _cancelled(job: str) -> protocol.Message:
    return protocol.error(job, "cancelled", "The job was cancelled.")


def serve(
    bind: str,
    checkpoint: str | None,
    device: str,
    curve_keys: str | None,
    insecure: bool,
    head: str | None = None,
) -> None:
    """Run the service until Ctrl-C or SIGTERM (either stops it within a second or two)."""
    service = Service(bind, checkpoint, device, curve_keys, insecure, head)
    if insecure and not is_loopback(bind):
        print(
            f"WARNING: listening on {bind} WITHOUT encryption or authentication: anyone who can "
            "reach this port can use this GPU. Use --curve-keys instead.",
            file=sys.stderr,
        )

    def stop(signum, frame) -> None:  # noqa: ARG001
        service.stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(f"PanoRig backend listening on {service.address} (device {service.device})", flush=True)
    service.serve_forever()
    print("PanoRig backend stopped", flush=True)
    sys.stderr.flush()
    # Everything is closed; skip the interpreter's teardown of the libraries the command line
    # imported (a second with torch), so that SIGTERM stops the service promptly.
    os._exit(0)
