"""The service's bookkeeping: which job belongs to which client, where each job stands, and
the replies waiting for a client that could not take them.

Pure state, no sockets and no clocks of its own (callers pass ``now``), so every rule here is
tested directly: jobs belong to the identity that submitted them; the queue is bounded; a
finished job's reply that could not be sent is held for its owner (bounded in count, bytes and
time) and handed over when the owner is heard from again; a client silent for long is forgotten.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from ..common.errors import CodedError

MAX_QUEUED = 16  # jobs waiting, all clients together
MAX_QUEUED_PER_CLIENT = 8
MAIL_PER_CLIENT = 4  # undelivered replies kept per client (the newest)
MAIL_BYTES = 512 * 2**20  # undelivered replies kept in all, by size
MAIL_SECONDS = 15 * 60.0
CLIENT_SECONDS = 30 * 60.0  # a client not heard from for this long is forgotten


class LedgerError(CodedError):
    """A request the bookkeeping refuses; ``code`` is the reply's error code."""


@dataclass
class JobRecord:
    id: str
    owner: bytes
    op: str
    params: dict[str, Any]
    arrays: dict[str, Any]
    submitted: float
    state: str = "queued"  # queued | running
    stage: str = "queued"
    fraction: float = 0.0
    started: float | None = None
    stage_since: float = 0.0
    cancel_requested: float | None = None

    def summary(self, now: float) -> dict[str, Any]:
        """What a client is told about its job (in its pong): enough to re-attach to it."""
        return {
            "job": self.id,
            "op": self.op,
            "state": self.state,
            "stage": self.stage,
            "fraction": round(self.fraction, 4),
            "elapsed": round(now - (self.started or self.submitted), 1),
            "stage_elapsed": round(now - self.stage_since, 1),
        }


@dataclass
class _Mail:
    job: str
    frames: list
    size: int
    since: float


@dataclass
class _Client:
    last_heard: float
    mail: deque[_Mail] = field(default_factory=deque)


class Ledger:
    def __init__(self) -> None:
        self.jobs: dict[str, JobRecord] = {}
        self.queue: deque[str] = deque()
        self.running: JobRecord | None = None
        self._clients: OrderedDict[bytes, _Client] = OrderedDict()
        self._mail_bytes = 0

    # --- jobs ---------------------------------------------------------------------------------
    def submit(
        self, owner: bytes, job: str, op: str, params: dict, arrays: dict, now: float
    ) -> JobRecord:
        if job in self.jobs:
            raise LedgerError("duplicate_job", "A job with this id is already queued or running.")
        if len(self.queue) >= MAX_QUEUED:
            raise LedgerError("busy", "The backend's queue is full.", "Try again in a moment.")
        if sum(self.jobs[j].owner == owner for j in self.queue) >= MAX_QUEUED_PER_CLIENT:
            raise LedgerError(
                "busy",
                f"You already have {MAX_QUEUED_PER_CLIENT} jobs waiting.",
                "Wait for them to finish, or cancel some.",
            )
        record = JobRecord(job, owner, op, params, arrays, submitted=now, stage_since=now)
        self.jobs[job] = record
        self.queue.append(job)
        return record

    def start_next(self, now: float) -> JobRecord | None:
        """The next queued job, now running (``None`` if a job runs or none waits)."""
        if self.running is not None or not self.queue:
            return None
        record = self.jobs[self.queue.popleft()]
        record.state, record.stage, record.started, record.stage_since = (
            "running",
            "starting",
            now,
            now,
        )
        self.running = record
        return record

    def progress(self, job: str, fraction: float, stage: str, now: float) -> JobRecord | None:
        record = self.jobs.get(job)
        if record is None:
            return None
        if stage != record.stage:
            record.stage, record.stage_since = stage, now
        record.fraction = fraction
        return record

    def finish(self, job: str) -> JobRecord | None:
        """Forget a job that ended (result, error, cancelled); returns it."""
        record = self.jobs.pop(job, None)
        if record is None:
            return None
        if self.running is record:
            self.running = None
        elif job in self.queue:
            self.queue.remove(job)
        return record

    def cancel(self, owner: bytes, job: str, now: float) -> JobRecord:
        """Check that ``owner`` may cancel ``job``; a running job is marked (the caller stops
        it), a queued one is removed. Returns the record."""
        record = self.jobs.get(job)
        if record is None:
            raise LedgerError("unknown_job", "No such job to cancel; it may have finished.")
        if record.owner != owner:
            raise LedgerError(
                "not_your_job",
                "This job belongs to another client; only the client that started it can "
                "cancel it.",
            )
        if record.state == "queued":
            self.finish(job)
        elif record.cancel_requested is None:
            record.cancel_requested = now
        return record

    def jobs_of(self, owner: bytes, now: float) -> list[dict[str, Any]]:
        return [r.summary(now) for r in self.jobs.values() if r.owner == owner]

    # --- clients and their undelivered replies ---------------------------------------------
    def heard_from(self, owner: bytes, now: float) -> list[tuple[str, list]]:
        """Note that ``owner`` is alive; returns (and forgets) the replies held for it, as
        (job, frames)."""
        client = self._clients.pop(owner, None) or _Client(now)
        client.last_heard = now
        self._clients[owner] = client  # most recently heard last
        mail = [(m.job, m.frames) for m in client.mail]
        self._mail_bytes -= sum(m.size for m in client.mail)
        client.mail.clear()
        return mail

    def hold(self, owner: bytes, job: str, frames: list, now: float) -> None:
        """Keep a job's final reply that ``owner`` could not take now."""
        size = sum(len(f) for f in frames)
        client = self._clients.setdefault(owner, _Client(now))
        client.mail.append(_Mail(job, frames, size, now))
        self._mail_bytes += size
        while len(client.mail) > MAIL_PER_CLIENT:
            self._mail_bytes -= client.mail.popleft().size
        self._trim_mail()

    def held_jobs(self, owner: bytes) -> list[str]:
        client = self._clients.get(owner)
        return [m.job for m in client.mail] if client else []

    def expire(self, now: float) -> list[JobRecord]:
        """Drop old mail and forget silent clients; returns their queued jobs, now cancelled."""
        cancelled = []
        for owner in list(self._clients):
            client = self._clients[owner]
            while client.mail and now - client.mail[0].since > MAIL_SECONDS:
                self._mail_bytes -= client.mail.popleft().size
            if now - client.last_heard > CLIENT_SECONDS and not client.mail:
                del self._clients[owner]
                for job in [j for j in self.queue if self.jobs[j].owner == owner]:
                    cancelled.append(self.finish(job))
        return cancelled

    @property
    def mail_bytes(self) -> int:
        return self._mail_bytes

    def _trim_mail(self) -> None:
        # Over the total: drop the oldest mail of the clients heard from longest ago.
        for client in list(self._clients.values()):
            while self._mail_bytes > MAIL_BYTES and client.mail:
                self._mail_bytes -= client.mail.popleft().size
