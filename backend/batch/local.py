"""The default runner: worker processes on this machine, one per GPU (or N on the CPU), each
loading the model once and taking heads from a shared queue (``ProcessPoolExecutor``)."""

from __future__ import annotations

import multiprocessing
import os
import queue
import socket
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

import torch

from .job import BatchSpec, HeadItem, HeadMaker, failed_row
from .manifest import Row, write_row
from .progress import BatchProgress, WorkerInfo
from .store import Store

POLL_SECONDS = 0.2
_WORKER: dict = {}  # this worker process's HeadMaker, identity and event queue


def local_devices(device: str, workers: int | None) -> list[str]:
    """One device per worker: every GPU once by default, or ``workers`` shared round robin."""
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return ["cpu"] * (workers or 1)
    if device.startswith("cuda:"):
        return [device] * (workers or 1)
    gpus = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [gpus[i % len(gpus)] for i in range(workers or len(gpus))]


def run_local(
    spec: BatchSpec, items: list[HeadItem], devices: list[str], progress: BatchProgress
) -> None:
    """Make ``items`` with one process per entry of ``devices``; every head ends in a row."""
    # spawn, not fork: CUDA cannot be forked, and a clean interpreter per worker.
    context = multiprocessing.get_context("spawn")
    events, slots = context.Queue(), context.Queue()
    for slot in range(len(devices)):
        slots.put(slot)
    # CPU workers share the cores instead of each starting a thread per core (unless the user
    # chose a thread count with OMP_NUM_THREADS, which torch reads itself).
    threads = None if "OMP_NUM_THREADS" in os.environ else (os.cpu_count() or 1) // len(devices)
    pool = ProcessPoolExecutor(
        len(devices),
        mp_context=context,
        initializer=_start_worker,
        initargs=(spec, devices, threads, events, slots),
    )
    try:
        futures = {pool.submit(_make, item): item for item in items}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, POLL_SECONDS, FIRST_COMPLETED)
            _show(events, progress)
            for future in finished:
                progress.finished(_row(spec, futures[future], future))
    finally:  # on an error or Ctrl-C, heads not started are dropped (a rerun makes them)
        pool.shutdown(cancel_futures=True)


def _row(spec: BatchSpec, item: HeadItem, future) -> Row:
    try:
        return future.result()
    except BrokenProcessPool as exc:  # a worker died (killed, out of memory): retried on rerun
        row = failed_row(spec, item, socket.gethostname(), f"worker process died: {exc}")
        write_row(Store(spec.out), row)
        return row


def _show(events, progress: BatchProgress) -> None:
    while True:
        try:
            kind, worker, text = events.get_nowait()
        except queue.Empty:
            return
        if kind == "fatal":  # a worker could not load the model: every head would fail alike
            raise ValueError(text)
        progress.status(worker, text)


def _start_worker(spec, devices, threads, events, slots) -> None:
    slot = slots.get()
    device = devices[slot]
    if device == "cpu" and threads:
        torch.set_num_threads(threads)
    info = WorkerInfo(f"worker {slot + 1}", os.getpid(), f"{socket.gethostname()} {device}")
    try:
        maker = HeadMaker(spec, device)
    except Exception as exc:  # noqa: BLE001 - reported to the coordinator, which stops
        events.put(("fatal", info, str(exc)))
        raise
    events.put(("status", info, "ready"))
    _WORKER.update(maker=maker, info=info, events=events)


def _make(item: HeadItem) -> Row:
    info, events = _WORKER["info"], _WORKER["events"]
    return _WORKER["maker"].make(item, lambda text: events.put(("status", info, text)))
