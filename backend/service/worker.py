"""The worker process: it owns the device, the model cache and the running job.

The service's front process (``server.py``) owns the socket; it starts this process, hands it
one job at a time over a pipe and forwards what comes back. A job that holds the interpreter
lock for minutes (a UV unwrap, a long CUDA call) therefore never delays a ping, and a worker that
dies (segfault, out of memory, killed) costs only its running job: the front starts another.

Pipe messages (tuples, pickled between these two processes only; nothing a client sent is ever
unpickled): front -> worker ``("run", job, op, params, arrays)``, ``("cancel", job)``,
``("stop",)``; worker -> front ``("ready", info)``, ``("fatal", message)``,
``("progress", job, fraction, stage)``, ``("preview", job, image)``, ``("models", specs)``,
``("done", job, data, arrays)``, ``("failed", job, code, message, hint)``.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

PROGRESS_INTERVAL = 0.1  # seconds between progress messages of an unchanged stage


class WorkerProcess:
    """The front's handle on the worker: start, send, receive, notice death, restart."""

    def __init__(self, device: str, checkpoint: str | None, head: str | None = None) -> None:
        self.device, self.checkpoint, self.head = device, checkpoint, head
        self.info: dict[str, Any] = {}
        self.operations: tuple[str, ...] = ()
        self.models: list[str] = []
        self.ready = False
        self.starts = 0
        self._start()

    def _start(self) -> None:
        # spawn, not fork: the front may hold ZeroMQ threads, and CUDA cannot be forked.
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=worker_main,
            args=(child, self.device, self.checkpoint, self.head),
            name="panorig-worker",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.ready = False
        self.starts += 1

    def wait_ready(self, timeout: float) -> None:
        """Block until the worker is up (start-up only); a worker that cannot start raises."""
        deadline = time.monotonic() + timeout
        while not self.ready:
            for event in self.events():
                if event[0] == "fatal":
                    self.kill()
                    raise ValueError(event[1])
            if not self.alive():
                raise RuntimeError(f"the backend's worker could not start ({self.exit_reason()})")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the backend's worker did not start within {timeout:.0f} s")
            self.conn.poll(0.05)

    def events(self) -> list[tuple]:
        """Everything the worker sent since the last call (never blocks)."""
        events = []
        try:
            while self.conn.poll(0):
                event = self.conn.recv()
                if event[0] == "ready":
                    self.info, self.operations, self.ready = event[1], tuple(event[2]), True
                elif event[0] == "models":
                    self.models = list(event[1])
                events.append(event)
        except (EOFError, OSError):
            pass  # the worker has gone; alive() says so
        return events

    def alive(self) -> bool:
        return self.process.is_alive()

    def exit_reason(self) -> str:
        code = self.process.exitcode
        if code is None:
            return "still running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    def run(self, job: str, op: str, params: dict, arrays: dict) -> None:
        self._send(("run", job, op, params, arrays))

    def cancel(self, job: str) -> None:
        self._send(("cancel", job))

    def restart(self) -> None:
        self.kill()
        self._start()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the worker to stop; kill it if it does not within ``timeout``."""
        self._send(("stop",))
        self.process.join(timeout)
        self.kill()

    def _send(self, message: tuple) -> None:
        try:
            self.conn.send(message)
        except (OSError, ValueError):
            pass  # the worker has gone: the front notices and restarts it


# --- the worker process ---------------------------------------------------------------------


def worker_main(
    conn: Connection, device_name: str, checkpoint: str | None, head: str | None = None
) -> None:
    """Entry point of the worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the front, which stops us
    import torch

    from ..devices import resolve_device
    from ..models.fast_path import prepare_process
    from .jobs import OPERATIONS, ModelCache

    prepare_process()

    try:
        device = resolve_device(device_name)
    except ValueError as exc:
        conn.send(("fatal", str(exc)))
        return
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    models = ModelCache(str(device), checkpoint, head)
    info = {"device": str(device), "gpu": gpu, "worker_pid": os.getpid()}
    conn.send(("ready", info, sorted(OPERATIONS)))

    inbox: queue.Queue = queue.Queue()
    current: dict[str, Any] = {"job": None, "cancelled": threading.Event()}

    def read() -> None:  # a thread: cancels must arrive while the job runs
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                message = ("stop",)
            if message[0] == "cancel":
                if message[1] == current["job"]:
                    current["cancelled"].set()
            else:
                if message[0] == "stop":
                    current["cancelled"].set()
                inbox.put(message)
                if message[0] == "stop":
                    return

    threading.Thread(target=read, name="panorig-worker-pipe", daemon=True).start()
    while True:
        message = inbox.get()
        if message[0] == "stop":
            # Nothing here needs tearing down (the driver frees the GPU): skip the interpreter's
            # slow shutdown of torch, so the service stops within a second.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        _, job, op, params, arrays = message
        current["job"], current["cancelled"] = job, threading.Event()
        _run(conn, models, OPERATIONS, job, op, params, arrays, current["cancelled"])
        current["job"] = None
        conn.send(("models", models.loaded()))


class JobCancelledError(Exception):
    """Raised from the progress callback when the client cancelled the job."""


def _run(
    conn: Connection,
    models,
    operations: dict,
    job: str,
    op: str,
    params: dict,
    arrays: dict,
    cancelled: threading.Event,
) -> None:
    from .jobs import JobContext

    last = {"stage": None, "time": 0.0}

    def progress(fraction: float, stage: str) -> None:
        if cancelled.is_set():
            raise JobCancelledError
        now = time.monotonic()
        if stage != last["stage"] or now - last["time"] >= PROGRESS_INTERVAL:
            last.update(stage=stage, time=now)
            conn.send(("progress", job, float(fraction), stage))

    def preview(image) -> None:
        conn.send(("preview", job, image))

    try:
        data, result = operations[op](JobContext(params, arrays, progress, preview, models))
        conn.send(("done", job, data, result))
    except JobCancelledError:
        conn.send(("failed", job, "cancelled", "The job was cancelled.", ""))
    except Exception as exc:  # noqa: BLE001 - every failure must become a reply
        conn.send(("failed", job, *_describe(exc)))


def _describe(exc: Exception) -> tuple[str, str, str]:
    """(code, one plain sentence, hint) for the add-on; details go to the service log."""
    import torch

    from ..common.errors import PanoRigError

    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower():
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return (
            "out_of_memory",
            "The GPU ran out of memory.",
            "Lower the mesh resolution or texture size, or press 'Release GPU memory'.",
        )
    if isinstance(exc, PanoRigError):
        return exc.code, exc.message, exc.hint
    if isinstance(exc, ValueError):
        return "failed", str(exc), ""
    traceback.print_exc()
    return (
        "internal",
        f"The backend failed: {type(exc).__name__}: {exc}",
        "See the backend's log for details.",
    )
