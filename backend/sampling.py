"""From seeds to latents, the way PanoHead's own scripts do it."""

from __future__ import annotations

import numpy as np
import torch

from .cameras import conditioning_camera


def seed_latent(seed: int, z_dim: int) -> torch.Tensor:
    """z [1, z_dim] of a seed: numpy RandomState normal draws, as in PanoHead's gen_samples.py."""
    return torch.from_numpy(np.random.RandomState(seed).randn(1, z_dim)).float()


def seed_ws(
    G, seed: int, truncation_psi: float = 0.7, truncation_cutoff: int | None = None
) -> torch.Tensor:
    """ws [1, num_ws, w_dim] of a seed, conditioned on the frontal camera like the reference."""
    return latent_ws(G, seed_latent(seed, G.z_dim), truncation_psi, truncation_cutoff)


def latent_ws(
    G, z: torch.Tensor, truncation_psi: float = 0.7, truncation_cutoff: int | None = None
) -> torch.Tensor:
    """ws [1, num_ws, w_dim] of a latent z [1, z_dim], conditioned on the frontal camera."""
    device = next(G.parameters()).device
    with torch.no_grad():
        return G.mapping(
            z.to(device), conditioning_camera().to(device), truncation_psi, truncation_cutoff
        )
