"""The one worker thread that owns the GPU: runs queued jobs in order, reports progress,
stops a job at its next step when it is cancelled, and turns failures into error messages."""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from ..common import protocol
from ..common.errors import PanoRigError
from .jobs import OPERATIONS, JobCancelledError, JobContext, ModelCache

PROGRESS_INTERVAL = 0.1  # seconds between progress messages of an unchanged stage
MAX_QUEUED = 16


@dataclass
class Job:
    peer: bytes
    id: str
    op: str
    params: dict
    arrays: dict = field(default_factory=dict)
    cancelled: threading.Event = field(default_factory=threading.Event)


class Worker(threading.Thread):
    def __init__(self, models: ModelCache, outbox: queue.Queue) -> None:
        super().__init__(name="panorig-worker", daemon=True)
        self.models = models
        self.outbox = outbox  # (peer, Message) for the server thread to send
        self._queue: deque[Job] = deque()
        self._wake = threading.Condition()
        self._stopping = False
        self.current: Job | None = None

    # --- called from the server thread ------------------------------------------------------
    def submit(self, job: Job) -> bool:
        with self._wake:
            if len(self._queue) >= MAX_QUEUED:
                return False
            self._queue.append(job)
            self._wake.notify()
        return True

    def cancel(self, job_id: str) -> bool:
        with self._wake:
            for job in self._queue:
                if job.id == job_id:
                    self._queue.remove(job)
                    self._send(job.peer, _cancelled(job.id))
                    return True
            if self.current is not None and self.current.id == job_id:
                self.current.cancelled.set()
                return True
        return False

    def status(self) -> dict:
        with self._wake:
            running = self.current.op if self.current else None
            return {"running": running, "queued": len(self._queue)}

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            if self.current is not None:
                self.current.cancelled.set()
            self._wake.notify()

    # --- the worker thread -------------------------------------------------------------------
    def run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                self.current = self._queue.popleft()
            try:
                self._run(self.current)
            finally:
                with self._wake:
                    self.current = None

    def _send(self, peer: bytes, msg: protocol.Message) -> None:
        self.outbox.put((peer, msg))

    def _run(self, job: Job) -> None:
        last = {"stage": None, "time": 0.0}

        def progress(fraction: float, stage: str) -> None:
            if job.cancelled.is_set():
                raise JobCancelledError
            now = time.monotonic()
            if stage != last["stage"] or now - last["time"] >= PROGRESS_INTERVAL:
                last.update(stage=stage, time=now)
                msg = protocol.Message("progress", job=job.id, fraction=fraction, stage=stage)
                self._send(job.peer, msg)

        def preview(image: np.ndarray) -> None:
            msg = protocol.Message(
                "progress", job=job.id, fraction=0.0, stage="preview", arrays={"preview": image}
            )
            self._send(job.peer, msg)

        ctx = JobContext(job.params, job.arrays, progress, preview, self.models)
        try:
            data, arrays = OPERATIONS[job.op](ctx)
            self._send(job.peer, protocol.Message("result", job=job.id, data=data, arrays=arrays))
        except JobCancelledError:
            self._send(job.peer, _cancelled(job.id))
        except Exception as exc:  # noqa: BLE001 - every failure must become a reply
            self._send(job.peer, _error_reply(job, exc))


def _cancelled(job_id: str) -> protocol.Message:
    return protocol.error(job_id, "cancelled", "The job was cancelled.")


def _error_reply(job: Job, exc: Exception) -> protocol.Message:
    """One plain sentence (and a hint) for the add-on; details go to the service log."""
    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower():
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return protocol.error(
            job.id,
            "out_of_memory",
            "The GPU ran out of memory.",
            "Lower the mesh resolution or texture size, or press 'Release GPU memory'.",
        )
    if isinstance(exc, PanoRigError):
        return protocol.error(job.id, exc.code, exc.message, exc.hint)
    if isinstance(exc, ValueError):
        return protocol.error(job.id, "failed", str(exc), "")
    traceback.print_exc()
    return protocol.error(
        job.id,
        "internal",
        f"The backend failed: {type(exc).__name__}: {exc}",
        "See the backend's log for details.",
    )
