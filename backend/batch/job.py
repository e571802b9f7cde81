"""What a batch makes, and one head made by a worker: latent -> mesh -> rig -> files -> row.

A ``HeadMaker`` is a worker's state: the generator and the rig model are loaded once, then each
head runs the same pipeline as ``python -m backend mesh`` and ``rig`` (``make_head``,
``export_mesh``, ``bind_rig``, ``save_rig``) and is published with its manifest row. A head that
fails becomes a failed row with its error; the worker goes on with the next one.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..common.settings import MeshSettings, TextureSettings, as_dict
from ..export import export_mesh
from ..head import make_head
from ..inversion import read_head, stored_projections
from ..models import open_generator
from ..models.checkpoint import DEMO, DEMO_PATH, RANDOM_PREFIX
from ..models.fast_path import prepare_process
from ..progress import stage_timer
from ..rigging import TEMPLATE, bind_rig, open_rig_model, save_rig
from ..sampling import latent_ws, seed_ws
from .manifest import DONE, FAILED, Row, digest, file_digest, settings_digest, write_row
from .store import Store

# Debug hook for tests and drills: heads of these seeds (e.g. "3,7") fail on purpose, to show
# that one failed head is recorded with its error while the others finish.
FAIL_SEEDS_ENV = "PANORIG_BATCH_FAIL_SEEDS"
HEAD_SUFFIX, LATENT_SUFFIX = ".safetensors", ".npy"
RIG_SUFFIX = ".rig.npz"

Status = Callable[[str], None]


@dataclass(frozen=True)
class HeadItem:
    """One head of the batch: a seed, an inverted head file or a latent file."""

    key: str  # its files' name, unique in the batch
    seed: int | None = None
    source: str | None = None  # the head (.safetensors) or latent (.npy) file


@dataclass(frozen=True)
class BatchSpec:
    """Everything a worker needs, checked and hashed by the coordinator (picklable for Ray)."""

    out: str
    checkpoint: str
    checkpoint_hash: str
    settings_hash: str
    psi: float
    mesh: MeshSettings
    texture: TextureSettings
    rig: str | None  # a rig model ('template' or a FLAME file), None for no rig
    formats: tuple[str, ...]  # ".glb", ".obj", ".ply"

    def identity(self) -> dict[str, Any]:
        """What ``batch.json`` records, and a rerun must match."""
        return {
            "checkpoint": self.checkpoint,
            "checkpoint_hash": self.checkpoint_hash,
            "settings_hash": self.settings_hash,
            "settings": _settings(self.psi, self.mesh, self.texture, self.rig, self.formats),
        }


def make_spec(
    out: str,
    checkpoint: str,
    psi: float,
    mesh: MeshSettings,
    texture: TextureSettings,
    rig: str | None,
    formats: tuple[str, ...],
) -> BatchSpec:
    """The batch's spec with its hashes: the checkpoint's bytes, and every setting that shapes
    a head (a FLAME file by its bytes too)."""
    settings = _settings(psi, mesh, texture, rig, formats)
    return BatchSpec(
        out,
        checkpoint,
        _checkpoint_digest(checkpoint),
        settings_digest(settings),
        psi,
        mesh,
        texture,
        rig,
        formats,
    )


def _settings(psi, mesh, texture, rig, formats) -> dict[str, Any]:
    rig_hash = file_digest(rig) if rig and rig != TEMPLATE else None
    return {
        "psi": psi,
        **as_dict(mesh),
        **as_dict(texture),
        "rig": rig or "none",
        "rig_hash": rig_hash,
        "formats": ",".join(sorted(formats)),
    }


def _checkpoint_digest(checkpoint: str) -> str:
    if checkpoint == DEMO:
        return file_digest(DEMO_PATH)
    if checkpoint.startswith(RANDOM_PREFIX):
        return digest(checkpoint.encode())
    if not Path(checkpoint).is_file():
        raise ValueError(
            f"--checkpoint {checkpoint} not found: give 'demo', a PanoHead .pkl or a PanoRig "
            ".safetensors file"
        )
    return file_digest(checkpoint)


def seed_items(seeds: list[int]) -> list[HeadItem]:
    return [HeadItem(f"seed_{seed:06d}", seed=seed) for seed in seeds]


def read_heads_file(path: Path) -> list[HeadItem]:
    """A --heads list: one seed, head file (.safetensors) or latent (.npy) per line; '#' starts
    a comment; relative paths are relative to the list's folder."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--heads {path} cannot be read ({exc}): give a text file") from None
    items: dict[str, HeadItem] = {}
    for number, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        if entry.isdigit():
            (item,) = seed_items([int(entry)])
        else:
            item = _file_item(path, number, entry)
        if item.key in items:
            raise ValueError(
                f"--heads {path} line {number}: {entry!r} repeats {item.key}; list each head "
                "once (rename one of two files with the same name)"
            )
        items[item.key] = item
    if not items:
        raise ValueError(f"--heads {path} lists no heads: one seed or file per line")
    return list(items.values())


def _file_item(path: Path, number: int, entry: str) -> HeadItem:
    source = (path.parent / entry).resolve()
    kind = {HEAD_SUFFIX: "head", LATENT_SUFFIX: "latent"}.get(source.suffix.lower())
    if kind is None or not source.is_file():
        raise ValueError(
            f"--heads {path} line {number}: {entry!r} is not a seed, an existing head file "
            f"({HEAD_SUFFIX}, from 'invert') or a latent ({LATENT_SUFFIX})"
        )
    return HeadItem(f"{kind}_{source.stem}", source=str(source))


def failed_row(spec: BatchSpec, item: HeadItem, worker: str, error: str = "") -> Row:
    """A row for ``item`` that says it failed (until the head is made)."""
    return Row(
        item.key,
        item.seed,
        item.source,
        spec.psi,
        spec.checkpoint_hash,
        spec.settings_hash,
        FAILED,
        error=error,
        worker=worker,
    )


def failing_seeds() -> set[int]:
    text = os.environ.get(FAIL_SEEDS_ENV, "")
    return {int(s) for s in text.split(",") if s.strip().isdigit()}


class HeadMaker:
    """One worker's loaded models and output store."""

    def __init__(self, spec: BatchSpec, device: str | torch.device) -> None:
        self.spec, self.device = spec, device
        prepare_process()  # a worker process of its own (local or on Ray)
        self.store = Store(spec.out)
        self.G = open_generator(spec.checkpoint, device)
        self.rig_model = open_rig_model(spec.rig) if spec.rig else None
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def make(self, item: HeadItem, status: Status | None = None) -> Row:
        """Make, publish and record one head; a failure is recorded, not raised."""
        times: dict[str, float] = {}
        shown = {"stage": ""}

        def report(_fraction: float, stage: str) -> None:
            stage = stage.split(" (")[0]
            if status is not None and stage != shown["stage"]:
                shown["stage"] = stage
                status(f"{item.key}: {stage}")

        progress = stage_timer(report, times)
        row = failed_row(self.spec, item, self.name)
        try:
            progress(0.0, "latent")
            self._make(item, row, progress)
            row.status = DONE
        except Exception as exc:  # noqa: BLE001 - one head's failure must not stop the batch
            row.error = f"{type(exc).__name__}: {exc}"
        progress(1.0, "done")  # closes the last stage's timer
        times.pop("done", None)
        row.timings, row.finished_ns = times, time.time_ns()
        write_row(self.store, row)
        return row

    def _make(self, item: HeadItem, row: Row, progress) -> None:
        if item.seed is not None and item.seed in failing_seeds():
            raise RuntimeError(f"failure injected for seed {item.seed} by {FAIL_SEEDS_ENV}")
        G, ws, photos = self._latent(item, row)
        result = make_head(G, ws, self.spec.mesh, self.spec.texture, progress, photos=photos)
        row.faces = len(result.faces)
        rig = None
        if self.rig_model is not None:
            progress(1.0, "rig")
            rig = bind_rig(self.rig_model, result.vertices, result.faces, result.normals)
            row.fit_residual = float(rig.fit.residual)
        progress(1.0, "export")
        with tempfile.TemporaryDirectory(prefix="panorig-batch-") as scratch:
            written = [export_mesh(result, Path(scratch, item.key + s)) for s in self.spec.formats]
            files = [f for group in written for f in group]  # OBJ brings its .mtl and .png
            if rig is not None:
                files.append(save_rig(rig, Path(scratch, item.key + RIG_SUFFIX)))
            for local in files:  # the manifest row, written after these, marks the head done
                self.store.publish(local, f"heads/{local.name}")
                row.files.append(f"heads/{local.name}")

    def _latent(self, item: HeadItem, row: Row) -> tuple:
        """(generator, ws, photos) of an item; a head file brings its own tuned generator."""
        if item.seed is not None:
            return self.G, seed_ws(self.G, item.seed, self.spec.psi), []
        source = Path(item.source)
        if source.suffix.lower() == HEAD_SUFFIX:
            row.checkpoint_hash = file_digest(source)
            head = read_head(source, self.device)
            return head.G, head.ws, stored_projections(head)
        latent = torch.from_numpy(np.load(source, allow_pickle=False)).float()
        if latent.numel() == self.G.z_dim:
            return self.G, latent_ws(self.G, latent.reshape(1, -1), self.spec.psi), []
        if latent.numel() != self.G.num_ws * self.G.w_dim:
            raise ValueError(
                f"latent {source} has shape {tuple(latent.shape)}: give z [{self.G.z_dim}] or "
                f"ws [{self.G.num_ws}, {self.G.w_dim}] of this checkpoint"
            )
        device = next(self.G.parameters()).device
        return self.G, latent.reshape(1, self.G.num_ws, self.G.w_dim).to(device), []
