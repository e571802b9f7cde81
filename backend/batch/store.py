"""The batch's output folder: a local path or any fsspec URL (``s3://…``), written atomically.

Every file appears whole or not at all: it is written under a hidden temporary name in its final
folder, then renamed (a rename within one folder is atomic on local and network file systems;
object stores publish an object whole on upload). Readers, including a rerun of the batch and
pyarrow's dataset discovery, ignore names starting with ".".
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one run per folder is the user's to keep
    fcntl = None


class Store:
    """One output root; paths given to its methods are relative to it ("heads/seed_1.glb")."""

    def __init__(self, url: str | os.PathLike) -> None:
        self.url = str(url)
        self.fs, self.root = fsspec.core.url_to_fs(self.url)

    def path(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    def exists(self, name: str) -> bool:
        return self.fs.exists(self.path(name))

    def glob(self, pattern: str) -> list[str]:
        """Names (relative to the root) matching ``pattern``."""
        prefix = self.root.rstrip("/") + "/"
        return sorted(p[len(prefix) :] for p in self.fs.glob(self.path(pattern)))

    def read_bytes(self, name: str) -> bytes:
        return self.fs.cat_file(self.path(name))

    def write_bytes(self, name: str, data: bytes) -> None:
        temp = self._temp(name)
        self.fs.makedirs(self.path(name).rsplit("/", 1)[0], exist_ok=True)
        self.fs.pipe_file(temp, data)
        self.fs.mv(temp, self.path(name))

    def publish(self, local: Path, name: str) -> None:
        """Copy the finished local file ``local`` to ``name``, atomically."""
        temp = self._temp(name)
        self.fs.makedirs(self.path(name).rsplit("/", 1)[0], exist_ok=True)
        self.fs.put_file(str(local), temp)
        self.fs.mv(temp, self.path(name))

    def remove(self, names: list[str]) -> None:
        """Delete ``names`` (in one request where the file system batches deletes)."""
        self.fs.rm([self.path(name) for name in names])

    def check_writable(self, what: str = "--out") -> None:
        """Create the root and prove a file can be written there, or one clear error."""
        probe = f".probe-{uuid.uuid4().hex}"
        try:
            self.fs.makedirs(self.root, exist_ok=True)
            self.fs.pipe_file(self.path(probe), b"")
            self.fs.rm_file(self.path(probe))
        except Exception as exc:  # noqa: BLE001 - each fsspec backend raises its own kinds
            reason = getattr(exc, "strerror", None) or f"{type(exc).__name__}: {exc}"
            raise ValueError(
                f"cannot write {what} {self.url}: {reason}. Give a folder or "
                "URL this machine (and every Ray node) can write, with its credentials set."
            ) from None

    @contextmanager
    def running(self) -> Iterator[None]:
        """Hold the folder for one run, so a second run at once is refused rather than making
        the same heads twice. A local folder gets an OS lock, which dies with its process (a
        killed run leaves nothing to clean up); object stores have no locks."""
        if fcntl is None or not isinstance(self.fs, LocalFileSystem):
            yield
            return
        self.fs.makedirs(self.root, exist_ok=True)
        with open(self.path(".lock"), "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ValueError(
                    f"another batch is running in {self.url}: wait for it to finish, or give "
                    "another --out"
                ) from None
            yield

    def _temp(self, name: str) -> str:
        folder, _, base = self.path(name).rpartition("/")
        return f"{folder}/.{base}.{uuid.uuid4().hex[:12]}.partial"
