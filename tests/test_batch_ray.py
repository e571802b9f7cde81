"""The batch on a local Ray instance with two CPU workers: a worker process killed mid-run is
restarted by Ray and its chunk retried, and the batch still completes with every head."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from backend.batch import BatchProgress, Store, make_spec, read_rows, run_batch, seed_items
from backend.common.settings import MeshSettings, TextureSettings

ray = pytest.importorskip("ray")
TIME_LIMIT = 240  # seconds; the run takes about 40 s on 2 cores


@pytest.fixture(scope="module")
def local_ray():
    # The workers share this machine's cores; the object store stays small.
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20)
    yield
    ray.shutdown()


def test_a_killed_worker_is_restarted_and_the_batch_completes(local_ray, tmp_path):
    killed: list[int] = []
    started: dict[int, str] = {}

    class KillOnce(BatchProgress):
        """Kills the first busy worker's process 0.5 s into its chunk, while it makes its first
        head (2 s was a race: on a fast machine both heads were done and the kill changed
        nothing)."""

        def status(self, worker, text):
            super().status(worker, text)
            started[worker.pid] = text
            if not killed:
                killed.append(worker.pid)
                threading.Timer(0.5, os.kill, (worker.pid, signal.SIGKILL)).start()

    spec = make_spec(
        str(tmp_path),
        "demo",
        0.7,
        MeshSettings(resolution=48, faces=1500, smooth=1),
        TextureSettings(texture=0),
        "template",
        (".glb",),
    )
    items = seed_items([0, 1, 2, 3])
    result: list = []

    def batch():
        result.append(run_batch(spec, items, ray_address="auto", workers=2, progress=KillOnce))

    runner = threading.Thread(target=batch, daemon=True)
    runner.start()
    runner.join(TIME_LIMIT)  # bounded: a hang fails the test, and the fixture stops Ray
    assert result, f"the batch did not finish within {TIME_LIMIT} s"
    plan, rows, summary = result[0]
    print(summary)
    assert len(plan.todo) == 4 and [r.status for r in rows] == ["done"] * 4, summary
    latest = {row.key: row for row in read_rows(Store(tmp_path))}
    assert sorted(latest) == [item.key for item in items]
    assert all(row.status == "done" for row in latest.values())
    assert all((tmp_path / row.files[0]).is_file() for row in latest.values())
    # The killed process made nothing after its death: a restarted actor (a new pid) did.
    workers = {int(row.worker.rsplit(":", 1)[1]) for row in latest.values()}
    assert killed and any(pid not in started for pid in workers), (killed, started, workers)
