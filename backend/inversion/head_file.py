"""A person inverted from photos, and its file: one .safetensors, no pickle.

The file is a PanoRig generator checkpoint (the tuned generator's tensors by their state-dict
names, its configuration as JSON in the header) plus the head: tensors ``head.ws`` [1, num_ws,
w_dim], ``head.cameras`` [P, 25], ``head.images`` [P, S, S, 3] uint8 and ``head.masks`` [P, S, S],
and header keys ``"kind": "head"``, ``"photos"`` and ``"losses"`` (JSON).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from ..devices import resolve_device
from ..models.checkpoint import FORMAT_NAME, FORMAT_VERSION, read_safetensors
from ..models.config import GeneratorConfig
from ..models.errors import CheckpointError

KIND = "head"
PREFIX = "head."
TENSORS = ("ws", "cameras", "images", "masks")


@dataclass
class Head:
    """``G`` the tuned generator; ``ws`` [1, num_ws, w_dim] its pivot latent; ``cameras``
    [P, 25] the photos' refined cameras; ``images`` [P, S, S, 3] uint8 and ``masks`` [P, S, S]
    float32 the aligned photos; ``photos`` per photo {"file", "yaw", "pitch", "roll",
    "landmarks_found"} (angles of the refined camera, degrees); ``losses`` the final losses."""

    G: torch.nn.Module
    ws: torch.Tensor
    cameras: torch.Tensor
    images: np.ndarray
    masks: np.ndarray
    photos: list[dict]
    losses: dict[str, float]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the head file atomically (a temporary name in the same folder, then renamed)."""
        path = Path(path)
        tensors = {
            k: v.detach().to("cpu", torch.float32).contiguous()
            for k, v in self.G.state_dict().items()
        }
        tensors[PREFIX + "ws"] = self.ws.detach().to("cpu", torch.float32).contiguous()
        tensors[PREFIX + "cameras"] = torch.as_tensor(self.cameras).detach().cpu().float()
        tensors[PREFIX + "images"] = torch.from_numpy(np.ascontiguousarray(self.images, np.uint8))
        tensors[PREFIX + "masks"] = torch.from_numpy(np.ascontiguousarray(self.masks, np.float32))
        metadata = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "config": json.dumps(self.G.config.to_dict(), sort_keys=True),
            "kind": KIND,
            "photos": json.dumps(self.photos),
            "losses": json.dumps(self.losses),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            save_file(tensors, str(temporary), metadata=metadata)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        return path


def read_head(path: str | os.PathLike, device: str | torch.device = "cpu") -> Head:
    """Everything a head file holds; the generator in eval mode without gradients on
    ``device``, ``ws`` there too, the photos' arrays on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"head file not found: {path}.", "Make one with 'python -m backend invert'."
        )
    meta, tensors = read_safetensors(
        path,
        "is not a readable head file",
        "Give a .safetensors head file made by 'python -m backend invert'.",
    )
    missing = [PREFIX + name for name in TENSORS if PREFIX + name not in tensors]
    if meta.get("kind") != KIND or meta.get("format") != FORMAT_NAME or missing:
        raise CheckpointError(
            f"{path} is not a head file (a head file is a generator checkpoint with "
            f"'kind': 'head' and the head.* tensors).",
            "Give a head file made by 'python -m backend invert'; a plain generator goes to "
            "--checkpoint.",
        )
    target = resolve_device(device) if isinstance(device, str) else device
    try:
        config = GeneratorConfig.from_dict(json.loads(meta["config"]))
        photos = json.loads(meta["photos"])
        losses = json.loads(meta["losses"])
        G = config.build()
        G.load_state_dict({k: v for k, v in tensors.items() if not k.startswith(PREFIX)})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path} is a damaged head file ({exc}).", "Invert the photos again."
        ) from exc
    return Head(
        G=G.to(target).eval().requires_grad_(False),
        ws=tensors[PREFIX + "ws"].to(target),
        cameras=tensors[PREFIX + "cameras"],
        images=tensors[PREFIX + "images"].numpy(),
        masks=tensors[PREFIX + "masks"].numpy(),
        photos=photos,
        losses=losses,
    )


def load_head(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple:
    """The tuned generator and its latent ws [1, num_ws, w_dim] from a head file."""
    head = read_head(path, device)
    return head.G, head.ws
