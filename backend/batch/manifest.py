"""The batch manifest: one row per finished head attempt, as Parquet, and the batch's identity.

Parquet files cannot be appended in place, so each finished head (done or failed) is one small
Parquet part file, ``manifest/<key>.<status>.<time_ns>.parquet``, written by the worker that made
it, to a temporary name and renamed (``Store``). The folder is read as one dataset. Why parts
rather than one file rewritten under a lock: on Ray the heads finish on other machines, possibly
with only an object store in common, where no lock exists; a part is written right after the
head's files, so a coordinator or node that dies loses at most the heads in flight. The latest
row of each head wins, so a retry simply adds a row. At the end of a run the coordinator merges
the parts into one file, so that a batch of 10,000 heads resumes from one file.

``batch.json`` records what the folder holds (checkpoint and settings, and their hashes); a run
with other settings is refused with the differences, so one folder never mixes two kinds of head.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .store import Store

IDENTITY = "batch.json"
MANIFEST = "manifest"
DONE, FAILED = "done", "failed"
COMPACTED = "all"  # manifest/all.<time_ns>.parquet: parts merged at the end of a run

SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("seed", pa.int64()),
        ("source", pa.string()),  # a head file or latent file, for heads not made from a seed
        ("psi", pa.float64()),
        ("checkpoint_hash", pa.string()),
        ("settings_hash", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("faces", pa.int64()),
        ("fit_residual", pa.float64()),
        ("timings", pa.map_(pa.string(), pa.float64())),  # seconds per stage
        ("files", pa.list_(pa.string())),
        ("worker", pa.string()),  # host:pid, to follow a head to the machine that made it
        ("finished_ns", pa.int64()),
    ]
)


@dataclass
class Row:
    """One head attempt, as stored in the manifest."""

    key: str
    seed: int | None
    source: str | None
    psi: float
    checkpoint_hash: str
    settings_hash: str
    status: str
    error: str = ""
    faces: int | None = None
    fit_residual: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    worker: str = ""
    finished_ns: int = field(default_factory=time.time_ns)

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())


def part_name(row: Row) -> str:
    return f"{MANIFEST}/{row.key}.{row.status}.{row.finished_ns}.parquet"


def write_row(store: Store, row: Row) -> None:
    """Append ``row`` to the manifest: one part file, published whole."""
    values = asdict(row)
    values["timings"] = list(row.timings.items())
    table = pa.Table.from_pylist([values], schema=SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    store.write_bytes(part_name(row), buffer.getvalue())


def read_rows(store: Store) -> list[Row]:
    """Every row of the manifest, oldest first (none for a new folder)."""
    parts = store.glob(f"{MANIFEST}/*.parquet")  # temporary names end in .partial
    if not parts:
        return []
    table = _read(store, parts)
    return sorted(map(_row, table.to_pylist()), key=lambda r: r.finished_ns)


def compact(store: Store) -> None:
    """Merge the part files into one, so that a rerun of a large batch reads one file.

    Run by the coordinator once its workers are done: the merged file is published before the
    parts are removed, so a crash in between leaves duplicate rows, which ``latest`` absorbs.
    """
    parts = store.glob(f"{MANIFEST}/*.parquet")
    if len(parts) < 2:
        return
    buffer = io.BytesIO()
    pq.write_table(_read(store, parts), buffer)
    store.write_bytes(f"{MANIFEST}/{COMPACTED}.{time.time_ns()}.parquet", buffer.getvalue())
    store.remove(parts)


def _read(store: Store, parts: list[str]) -> pa.Table:
    paths = [store.path(p) for p in parts]  # read by pyarrow's threads, not one by one
    return pq.read_table(paths, filesystem=store.fs, schema=SCHEMA)


def latest(rows: Iterable[Row]) -> dict[str, Row]:
    """The last attempt of each head."""
    return {row.key: row for row in sorted(rows, key=lambda r: r.finished_ns)}


def done_since(store: Store, key: str, since_ns: int) -> Row | None:
    """The row of ``key`` if it was made after ``since_ns``: a retried chunk skips such heads."""
    for name in reversed(store.glob(f"{MANIFEST}/{key}.{DONE}.*.parquet")):
        stamp = name.rsplit(".", 2)[-2]
        if stamp.isdigit() and int(stamp) >= since_ns:
            table = pq.read_table(io.BytesIO(store.read_bytes(name)), schema=SCHEMA)
            return _row(table.to_pylist()[0])
    return None


# --- identity --------------------------------------------------------------------------------


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def settings_digest(settings: dict[str, Any]) -> str:
    return digest(json.dumps(settings, sort_keys=True).encode())


def claim(store: Store, identity: dict[str, Any]) -> None:
    """Record ``identity`` in a new folder, or refuse a folder made with other settings."""
    if not store.exists(IDENTITY):
        store.write_bytes(IDENTITY, json.dumps(identity, indent=1, sort_keys=True).encode())
        return
    try:
        found = json.loads(store.read_bytes(IDENTITY))
    except ValueError:
        raise ValueError(
            f"--out {store.url} has a damaged {IDENTITY}: give another --out (or delete that "
            "folder's batch.json only if you know what it held)."
        ) from None
    differences = _differences(found, identity)
    if differences:
        raise ValueError(
            f"--out {store.url} holds a batch made with other settings ({'; '.join(differences)})"
            ". Give another --out for these settings, or the folder's settings to resume it."
        )


def _differences(found: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """What differs, as 'name: there X, now Y' (settings first, then the checkpoint)."""
    there, now = found.get("settings", {}), wanted["settings"]
    out = [
        f"{k}: there {there.get(k)!r}, now {now.get(k)!r}"
        for k in sorted(set(there) | set(now))
        if there.get(k) != now.get(k)
    ]
    if found.get("checkpoint_hash") != wanted["checkpoint_hash"]:
        out.append(
            f"checkpoint: there {found.get('checkpoint')!r} ({found.get('checkpoint_hash')}), "
            f"now {wanted['checkpoint']!r} ({wanted['checkpoint_hash']})"
        )
    return out


def _row(values: dict[str, Any]) -> Row:
    values["timings"] = dict(values["timings"] or [])
    values["files"] = list(values["files"] or [])
    return Row(**values)
