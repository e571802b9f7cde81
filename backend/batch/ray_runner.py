"""The Ray runner (``--ray``): one actor per GPU of the cluster (or per CPU without GPUs), each
loading the model once and taking heads in chunks. Imported only when ``--ray`` is given.

Fault tolerance is Ray's: an actor whose process or node dies is restarted (``max_restarts``)
and the chunk it held is retried on it (``max_task_retries``), both bounded. Heads are
published one by one as they finish, so a retried chunk skips the heads already made in this
run and a lost node costs only its heads in flight. A chunk that exhausts its retries is marked
failed; running the batch again retries it.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import time
from collections import deque

import ray
import torch
from ray.exceptions import RayError

from .job import BatchSpec, HeadItem, HeadMaker, failed_row
from .manifest import Row, done_since, write_row
from .progress import BatchProgress, WorkerInfo
from .store import Store

MAX_RESTARTS = 3  # per actor
MAX_TASK_RETRIES = 3  # per chunk
POLL_SECONDS = 0.5


def connect(address: str) -> None:
    """Join the cluster at ``address`` ('auto': the one RAY_ADDRESS or 'ray start' names)."""
    if ray.is_initialized():  # joined already by the caller (a test, a notebook)
        return
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    except ConnectionError as exc:
        raise ValueError(
            f"--ray {address}: no Ray cluster found ({exc}). Start one with 'ray start --head' "
            "(and 'ray start --address HEAD:6379' on other machines), or set RAY_ADDRESS."
        ) from None


def ray_workers(workers: int | None) -> tuple[int, dict[str, float]]:
    """How many actors, and each one's resources: a GPU each when the cluster has GPUs. Never
    more actors than the cluster can place now: Ray would wait for the rest forever."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    capacity = gpus or max(1, int(resources.get("CPU", 1)))
    if workers and workers > capacity:
        unit = "GPUs" if gpus else "CPUs"
        print(
            f"--workers {workers}: the Ray cluster has {capacity} {unit}; starting {capacity} "
            "workers",
            file=sys.stderr,
        )
    count = min(workers or capacity, capacity)
    return count, ({"num_gpus": 1} if gpus else {"num_cpus": 1})


@ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES)
class HeadActor:
    def __init__(self, spec: BatchSpec, slot: int, since_ns: int) -> None:
        gpu = bool(ray.get_gpu_ids())  # Ray sets CUDA_VISIBLE_DEVICES to this actor's GPU
        if not gpu:
            torch.set_num_threads(1)
        self.maker = HeadMaker(spec, "cuda" if gpu else "cpu")
        node = f"{socket.gethostname()} {'cuda' if gpu else 'cpu'}"
        self.info = WorkerInfo(f"worker {slot + 1}", os.getpid(), node)
        self.since_ns = since_ns

    def describe(self) -> WorkerInfo:
        return self.info

    def make(self, items: list[HeadItem]) -> tuple[WorkerInfo, list[Row]]:
        rows = []
        for item in items:
            # On a retry, the heads this chunk made before its worker died are kept.
            row = done_since(self.maker.store, item.key, self.since_ns)
            rows.append(row or self.maker.make(item))
        return self.info, rows


def run_ray(
    spec: BatchSpec,
    items: list[HeadItem],
    workers: int | None,
    progress: BatchProgress,
    chunk: int | None = None,
) -> None:
    """Make ``items`` on the joined Ray cluster; every head ends in a row."""
    count, resources = ray_workers(workers)
    count = min(count, len(items))
    size = chunk or max(1, min(16, math.ceil(len(items) / (4 * count))))
    chunks = deque(items[i : i + size] for i in range(0, len(items), size))
    since = time.time_ns()
    actors = [HeadActor.options(**resources).remote(spec, i, since) for i in range(count)]
    try:
        infos = ray.get([actor.describe.remote() for actor in actors])
    except RayError as exc:  # the model could not load: every head would fail alike
        raise ValueError(f"the Ray workers could not start: {_cause(exc)}") from None
    in_flight: dict = {}

    def give(i: int) -> None:
        work = chunks.popleft()
        in_flight[actors[i].make.remote(work)] = (i, work)
        keys = work[0].key if len(work) == 1 else f"{work[0].key} .. {work[-1].key}"
        progress.status(infos[i], keys)

    try:
        for i in range(count):
            if chunks:
                give(i)
        while in_flight:
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=POLL_SECONDS)
            for ref in ready:
                i, work = in_flight.pop(ref)
                try:
                    infos[i], rows = ray.get(ref)
                except RayError as exc:  # retries exhausted: the actor is gone for good
                    rows = _lost(spec, work, since, exc)
                    actors[i] = None
                for row in rows:
                    progress.finished(row)
                if actors[i] is not None and chunks:
                    give(i)
            if not any(actors) and chunks:  # no worker left: the rest waits for a rerun
                for row in _lost(spec, [item for work in chunks for item in work], since, None):
                    progress.finished(row)
                chunks.clear()
    finally:
        for actor in filter(None, actors):
            ray.kill(actor)


def _lost(spec: BatchSpec, items: list[HeadItem], since: int, exc: RayError | None) -> list[Row]:
    """Rows for a chunk given up on: its heads made before the loss stay done."""
    reason = "every Ray worker was lost"
    if exc is not None:
        reason = f"worker lost after {MAX_TASK_RETRIES} retries: {_cause(exc)}"
    store, rows = Store(spec.out), []
    for item in items:
        row = done_since(store, item.key, since)
        if row is None:
            row = failed_row(spec, item, "ray", reason)
            write_row(store, row)
        rows.append(row)
    return rows


def _cause(exc: RayError | None) -> str:
    return str(exc).strip().splitlines()[-1] if exc else ""
