"""The add-on's connection to the backend: Blender-free, non-blocking, one DEALER socket.

``BackendSession.poll()`` is called from a Blender timer (or directly by tests); it never
blocks. It turns the backend's messages into ``Event``s and pings every two seconds; the backend
is reported lost only when its pings go unanswered for ``timeout`` seconds, never because a job
is slow (the backend answers pings from a process of its own while a job runs). A session keeps
the ``identity`` it is given, so a new session with the same identity (after Connect is pressed
again) sees its jobs in the first pong and receives the replies held for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from .shared import protocol

PING_INTERVAL = 2.0


@dataclass
class Event:
    kind: str  # accepted | progress | preview | result | error | connected | lost
    job: str = ""
    fraction: float = 0.0
    stage: str = ""
    message: str = ""
    hint: str = ""
    code: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, Any] = field(default_factory=dict)


@dataclass
class CurveKeys:
    server_public: Path  # the server's public key file (server.key)
    client_secret: Path  # this client's key pair (client.key_secret)


class BackendSession:
    def __init__(
        self,
        address: str,
        timeout: float = 30.0,
        curve: CurveKeys | None = None,
        identity: bytes | None = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.context = zmq.Context.instance()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        if identity:
            self.socket.setsockopt(zmq.ROUTING_ID, identity)
        self.socket.setsockopt(zmq.IMMEDIATE, 1)  # queue nothing for a backend that is not there
        self.socket.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_REPLY_BYTES + 4096)
        if curve is not None:
            public, secret = zmq.auth.load_certificate(str(curve.client_secret))
            server_public, _ = zmq.auth.load_certificate(str(curve.server_public))
            self.socket.curve_publickey = public
            self.socket.curve_secretkey = secret
            self.socket.curve_serverkey = server_public
        self.socket.connect(address)
        self.jobs: dict[str, str] = {}  # job id -> op, for jobs still running
        self.server: dict[str, Any] = {}  # the last pong's info
        self.connected = False
        self._last_ping = 0.0
        self._unanswered_since: float | None = None  # the first ping not answered yet

    # --- commands ------------------------------------------------------------------------------
    def request(
        self, op: str, params: dict[str, Any] | None = None, arrays: dict[str, Any] | None = None
    ) -> str:
        msg = protocol.request(op, params)
        msg.arrays = dict(arrays or {})
        size = sum(getattr(a, "nbytes", 0) for a in msg.arrays.values())
        if size > protocol.MAX_REQUEST_BYTES:
            # The backend would drop a message this large without a word: say it here.
            raise protocol.ProtocolError(
                "too_large",
                f"this {op} request carries {size / 2**20:.0f} MiB, over the backend's "
                f"{protocol.MAX_REQUEST_BYTES // 2**20} MiB limit for a request.",
                "Send a lighter mesh: decimate it (Decimate modifier) and try again.",
            )
        self._send(msg)
        self.jobs[msg.job] = op
        return msg.job

    def cancel(self, job: str) -> None:
        self._send(protocol.Message("cancel", job=job))

    def ping(self) -> None:
        self._send(protocol.Message("ping", job=protocol.new_job_id()))
        self._last_ping = time.monotonic()
        if self._unanswered_since is None:
            self._unanswered_since = self._last_ping

    def close(self) -> None:
        self.socket.close(linger=0)

    # --- the timer's work ------------------------------------------------------------------------
    def poll(self) -> list[Event]:
        """Everything the backend sent since the last call, plus a 'lost' event on timeout."""
        events: list[Event] = []
        while self.socket.poll(0, zmq.POLLIN):
            frames = self.socket.recv_multipart(copy=False)
            self._unanswered_since = None  # anything from the backend proves it is there
            events.extend(self._handle(frames))
        now = time.monotonic()
        if now - self._last_ping >= PING_INTERVAL:
            self.ping()  # liveness, and fresh server status for the panel
        if self._unanswered_since is not None and now - self._unanswered_since > self.timeout:
            events.append(self._lost())
        return events

    def _handle(self, frames: list) -> list[Event]:
        try:
            msg = protocol.decode(frames)
        except protocol.ProtocolError as exc:
            return [Event("error", code=exc.code, message=exc.message, hint=exc.hint)]
        if msg.kind == "pong":
            self.server = msg.data
            if not self.connected:
                self.connected = True
                return [Event("connected", data=msg.data)]
            return []
        if msg.kind in ("result", "error"):
            self.jobs.pop(msg.job, None)
        if msg.kind == "progress" and "preview" in msg.arrays:
            return [Event("preview", job=msg.job, arrays=msg.arrays)]
        return [
            Event(
                msg.kind,
                job=msg.job,
                fraction=msg.fraction,
                stage=msg.stage,
                message=msg.message,
                hint=msg.hint,
                code=msg.code,
                data=msg.data,
                arrays=msg.arrays,
            )
        ]

    def _lost(self) -> Event:
        jobs = list(self.jobs)
        self.jobs.clear()
        self.connected = False
        self._unanswered_since = None
        return Event(
            "lost",
            job=jobs[0] if jobs else "",
            message=f"The backend at {self.address} did not answer pings for {self.timeout:.0f} s.",
            hint="Start the backend again (or check the address), then retry.",
        )

    def _send(self, msg: protocol.Message) -> None:
        try:
            self.socket.send_multipart(protocol.encode(msg), flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            # IMMEDIATE: no connection (yet). A lost ping is reported by the timeout; a lost
            # request would leave a job waiting forever, so it is refused here.
            if msg.kind == "request":
                raise protocol.ProtocolError(
                    "not_connected",
                    f"the backend at {self.address} is not connected (yet).",
                    "Wait until the panel says Connected, then try again.",
                ) from None
