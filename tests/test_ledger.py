"""The service's bookkeeping: ownership, bounds, held replies, forgetting silent clients."""

from __future__ import annotations

import pytest

from backend.service import ledger as ledger_module
from backend.service.ledger import Ledger, LedgerError

A, B = b"client-a", b"client-b"


def _submit(ledger: Ledger, owner: bytes, job: str, now: float = 0.0):
    return ledger.submit(owner, job, "sleep", {}, {}, now)


def test_jobs_run_in_order_and_report_their_stage_times():
    ledger = Ledger()
    _submit(ledger, A, "j1")
    _submit(ledger, B, "j2")
    assert ledger.start_next(1.0).id == "j1"
    assert ledger.start_next(1.0) is None  # one at a time
    ledger.progress("j1", 0.5, "UV unwrap", now=2.0)
    ledger.progress("j1", 0.6, "UV unwrap", now=40.0)  # same stage: its clock keeps running
    (summary,) = ledger.jobs_of(A, now=43.0)
    assert summary["stage"] == "UV unwrap" and summary["stage_elapsed"] == 41.0
    assert summary["elapsed"] == 42.0 and summary["state"] == "running"
    assert ledger.finish("j1").id == "j1"
    assert ledger.start_next(44.0).id == "j2"


def test_only_the_owner_may_cancel():
    ledger = Ledger()
    _submit(ledger, A, "j1")
    with pytest.raises(LedgerError) as err:
        ledger.cancel(B, "j1", 0.0)
    assert err.value.code == "not_your_job"
    assert ledger.cancel(A, "j1", 0.0).id == "j1" and "j1" not in ledger.jobs  # was queued
    with pytest.raises(LedgerError) as err:
        ledger.cancel(A, "j1", 0.0)
    assert err.value.code == "unknown_job"


def test_cancelling_a_running_job_marks_it_once():
    ledger = Ledger()
    _submit(ledger, A, "j1")
    ledger.start_next(0.0)
    assert ledger.cancel(A, "j1", 5.0).cancel_requested == 5.0
    assert ledger.cancel(A, "j1", 9.0).cancel_requested == 5.0
    assert ledger.running.id == "j1"


def test_queue_bounds_and_duplicate_ids(monkeypatch):
    monkeypatch.setattr(ledger_module, "MAX_QUEUED", 3)
    monkeypatch.setattr(ledger_module, "MAX_QUEUED_PER_CLIENT", 2)
    ledger = Ledger()
    _submit(ledger, A, "a1")
    with pytest.raises(LedgerError, match="already queued") as err:
        _submit(ledger, B, "a1")
    assert err.value.code == "duplicate_job"
    _submit(ledger, A, "a2")
    with pytest.raises(LedgerError, match="2 jobs waiting"):
        _submit(ledger, A, "a3")
    _submit(ledger, B, "b1")
    with pytest.raises(LedgerError, match="queue is full") as err:
        _submit(ledger, B, "b2")
    assert err.value.code == "busy"


def test_replies_are_held_for_a_client_and_handed_over_once():
    ledger = Ledger()
    ledger.hold(A, "j1", [b"header", b"x" * 100], now=0.0)
    assert ledger.held_jobs(A) == ["j1"] and ledger.mail_bytes == 106
    assert ledger.heard_from(B, 1.0) == []
    assert ledger.heard_from(A, 1.0) == [("j1", [b"header", b"x" * 100])]
    assert ledger.heard_from(A, 2.0) == [] and ledger.mail_bytes == 0


def test_held_replies_are_bounded_in_count_bytes_and_time(monkeypatch):
    monkeypatch.setattr(ledger_module, "MAIL_BYTES", 1000)
    ledger = Ledger()
    for i in range(ledger_module.MAIL_PER_CLIENT + 2):
        ledger.hold(A, f"j{i}", [b"x" * 10], now=0.0)
    assert ledger.held_jobs(A) == [f"j{i}" for i in range(2, ledger_module.MAIL_PER_CLIENT + 2)]
    ledger.hold(B, "big", [b"x" * 990], now=0.0)
    assert ledger.mail_bytes <= 1000 and "big" in ledger.held_jobs(B)
    ledger.expire(ledger_module.MAIL_SECONDS + 1)
    assert ledger.held_jobs(A) == [] and ledger.held_jobs(B) == [] and ledger.mail_bytes == 0


def test_a_client_silent_for_long_is_forgotten_with_its_queued_jobs():
    ledger = Ledger()
    ledger.heard_from(A, 0.0)
    ledger.heard_from(B, 0.0)
    _submit(ledger, A, "running")
    ledger.start_next(0.0)
    _submit(ledger, A, "waiting")
    ledger.heard_from(B, ledger_module.CLIENT_SECONDS)  # B keeps talking
    cancelled = ledger.expire(ledger_module.CLIENT_SECONDS + 1)
    assert [r.id for r in cancelled] == ["waiting"]
    assert ledger.running.id == "running"  # a running job still finishes
