"""The ZeroMQ service: a ROUTER socket on the main thread routing messages to the worker.

Pings are answered at once even while a job runs; requests are acknowledged, queued and
answered with progress and a result or an error; anything malformed gets an error reply (or,
beyond the size limit, the connection is dropped by ZeroMQ) and the service keeps serving.
"""

from __future__ import annotations

import queue
import signal
import sys
import threading
from pathlib import Path

import torch
import zmq
import zmq.auth.thread

from ..common import protocol
from ..common.protocol import is_loopback
from ..devices import resolve_device
from .jobs import OPERATIONS, ModelCache
from .security import check_bind_address, load_server_keys
from .worker import Job, Worker

POLL_MS = 10


class Service:
    def __init__(
        self,
        bind: str = "tcp://127.0.0.1:5577",
        checkpoint: str | None = None,
        device: str = "auto",
        curve_keys: str | Path | None = None,
        insecure: bool = False,
    ) -> None:
        check_bind_address(bind)
        if not is_loopback(bind) and curve_keys is None and not insecure:
            raise ValueError(
                f"refusing to listen on {bind} without encryption: give --curve-keys DIR "
                "(make them with 'python -m backend keys DIR') or --insecure"
            )
        self.device = resolve_device(device)
        self.models = ModelCache(str(self.device), checkpoint)
        self.outbox: queue.Queue = queue.Queue()
        self.worker = Worker(self.models, self.outbox)
        self.context = zmq.Context()
        self.auth = None
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 1)  # errors for gone peers, not silence
        # libzmq drops a peer whose message part exceeds this: big requests never reach memory.
        self.socket.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_REQUEST_BYTES + 4096)
        self.socket.setsockopt(zmq.HEARTBEAT_IVL, 2000)
        self.socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, 6000)
        self.socket.setsockopt(zmq.LINGER, 1000)
        if curve_keys is not None:
            public, secret, authorized = load_server_keys(curve_keys)
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
        self.stopping = threading.Event()

    def info(self) -> dict:
        return {
            "protocol": protocol.PROTOCOL_VERSION,
            "device": str(self.device),
            "gpu": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else None,
            "models": self.models.loaded(),
            "default_checkpoint": self.models.default_checkpoint,
            "operations": sorted(OPERATIONS),
            **self.worker.status(),
        }

    def serve_forever(self) -> None:
        self.worker.start()
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        try:
            while not self.stopping.is_set():
                if poller.poll(POLL_MS):
                    self._receive()
                self._flush()
        finally:
            self.worker.stop()
            self.worker.join(timeout=5)
            self._flush()
            self.close()

    def close(self) -> None:
        self.socket.close()
        if self.auth is not None:
            self.auth.stop()
        self.context.term()

    # ----------------------------------------------------------------------------------------
    def _receive(self) -> None:
        frames = self.socket.recv_multipart(copy=False)
        peer = frames[0].bytes
        try:
            msg = protocol.decode(frames[1:], max_bytes=protocol.MAX_REQUEST_BYTES)
        except protocol.ProtocolError as exc:
            self._reply(peer, protocol.error("", exc.code, exc.message, exc.hint))
            return
        if msg.kind == "ping":
            self._reply(peer, protocol.Message("pong", job=msg.job, data=self.info()))
        elif msg.kind == "cancel":
            if not self.worker.cancel(msg.job):
                self._reply(peer, protocol.error(msg.job, "unknown_job", "No such job to cancel."))
        elif msg.kind == "request":
            self._request(peer, msg)
        else:
            self._reply(
                peer, protocol.error(msg.job, "bad_kind", f"clients may not send {msg.kind!r}")
            )

    def _request(self, peer: bytes, msg: protocol.Message) -> None:
        if msg.op not in OPERATIONS:
            self._reply(
                peer,
                protocol.error(
                    msg.job,
                    "unknown_op",
                    f"unknown operation {msg.op!r}",
                    f"Known operations: {', '.join(sorted(OPERATIONS))}.",
                ),
            )
            return
        if not msg.job:
            self._reply(peer, protocol.error("", "malformed", "a request needs a job id"))
            return
        if not self.worker.submit(Job(peer, msg.job, msg.op, msg.params, dict(msg.arrays))):
            self._reply(
                peer, protocol.error(msg.job, "busy", "The backend's queue is full.", "Try later.")
            )
            return
        self._reply(peer, protocol.Message("accepted", job=msg.job, op=msg.op))

    def _flush(self) -> None:
        while True:
            try:
                peer, msg = self.outbox.get_nowait()
            except queue.Empty:
                return
            self._reply(peer, msg)

    def _reply(self, peer: bytes, msg: protocol.Message) -> None:
        try:
            frames = protocol.encode(msg)
        except (protocol.ProtocolError, TypeError, ValueError) as exc:
            # A result the protocol cannot carry is the backend's bug: report it, keep serving.
            frames = protocol.encode(
                protocol.error(msg.job, "internal", f"The backend's reply could not be sent: {exc}")
            )
        try:
            self.socket.send_multipart([peer, *frames], copy=False)
        except zmq.ZMQError:
            pass  # the client has gone (ROUTER_MANDATORY): nobody to tell


def serve(
    bind: str, checkpoint: str | None, device: str, curve_keys: str | None, insecure: bool
) -> None:
    """Run the service until Ctrl-C or SIGTERM."""
    service = Service(bind, checkpoint, device, curve_keys, insecure)
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
