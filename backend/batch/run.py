"""One run of a batch: claim the output folder, work out what is left, hand it to a runner.

A head is done when its latest manifest row says so and all its files are there; everything
else (new, failed before, or done but a file since deleted) is made again.
"""

from __future__ import annotations

from dataclasses import dataclass

from .job import BatchSpec, HeadItem
from .local import local_devices, run_local
from .manifest import DONE, Row, claim, compact, latest, read_rows
from .progress import BatchProgress
from .store import Store


@dataclass(frozen=True)
class Plan:
    todo: list[HeadItem]
    done: int  # already made, skipped
    retried: int  # failed before, or with a file missing


def plan(store: Store, spec: BatchSpec, items: list[HeadItem]) -> Plan:
    rows = latest(r for r in read_rows(store) if r.settings_hash == spec.settings_hash)
    present = set(store.glob("heads/*"))  # one listing, not a look-up per file (object stores)
    todo, retried = [], 0
    for item in items:
        row = rows.get(item.key)
        if row is not None and row.status == DONE and present.issuperset(row.files):
            continue
        retried += row is not None
        todo.append(item)
    return Plan(todo, len(items) - len(todo), retried)


def run_batch(
    spec: BatchSpec,
    items: list[HeadItem],
    *,
    device: str = "auto",
    workers: int | None = None,
    ray_address: str | None = None,
    chunk: int | None = None,
    progress: type[BatchProgress] = BatchProgress,
) -> tuple[Plan, list[Row], str]:
    """Make what is left of the batch, locally or on Ray (``ray_address``); returns the plan,
    this run's rows and its summary."""
    ray_runner = _ray() if ray_address is not None else None
    if ray_runner is not None:  # before anything is written: a cluster not found is bad input
        ray_runner.connect(ray_address)
    store = Store(spec.out)
    store.check_writable()
    with store.running():
        claim(store, spec.identity())
        left = plan(store, spec, items)
        shown = progress(len(left.todo))
        try:
            if left.todo and ray_runner is not None:
                ray_runner.run_ray(spec, left.todo, workers, shown, chunk)
            elif left.todo:
                run_local(spec, left.todo, local_devices(device, workers), shown)
            compact(store)
        finally:
            summary = shown.close()
    return left, shown.rows, summary


def _ray():
    """The Ray runner: Ray is an optional extra, imported only when --ray is given."""
    try:
        from . import ray_runner
    except ModuleNotFoundError as exc:
        if exc.name != "ray":
            raise
        raise ValueError(
            "--ray needs Ray, which is not installed: pip install 'panorig[ray]' "
            "(or -r requirements-ray.txt), or leave out --ray to run on this machine"
        ) from None
    return ray_runner
