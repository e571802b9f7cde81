"""Many heads in one command (``python -m backend batch``): resumable, on this machine's GPUs or
CPU processes by default, on a Ray cluster when asked. Ray is imported only for ``--ray``."""

from .job import (
    FAIL_SEEDS_ENV,
    BatchSpec,
    HeadItem,
    HeadMaker,
    make_spec,
    read_heads_file,
    seed_items,
)
from .manifest import DONE, FAILED, Row, read_rows
from .progress import BatchProgress, WorkerInfo
from .run import Plan, plan, run_batch
from .store import Store

__all__ = [
    "DONE",
    "FAILED",
    "FAIL_SEEDS_ENV",
    "BatchProgress",
    "BatchSpec",
    "HeadItem",
    "HeadMaker",
    "Plan",
    "Row",
    "Store",
    "WorkerInfo",
    "make_spec",
    "plan",
    "read_heads_file",
    "read_rows",
    "run_batch",
    "seed_items",
]
