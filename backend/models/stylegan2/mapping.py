"""StyleGAN2 mapping network z (+ camera label c) -> w, with truncation toward the tracked mean."""

from __future__ import annotations

import torch
from torch import nn

from .layers import FullyConnectedLayer, normalize_2nd_moment


class MappingNetwork(nn.Module):
    """MLP from a latent and a normalised label embedding to ``num_ws`` copies of w.

    StyleGAN scales z to unit second moment, which with 512 numbers loses nothing (their norm
    barely varies); with a handful (the demo's 8, one per trait) it throws away the norm, which
    varies by a quarter between seeds, so ``normalize_z`` can turn it off.
    """

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int,
        num_layers: int = 8,
        layer_features: int | None = None,
        lr_multiplier: float = 0.01,
        last_activation: str = "lrelu",
        normalize_z: bool = True,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.normalize_z = num_layers, normalize_z
        embed_features = w_dim if c_dim > 0 else 0
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            activation = last_activation if idx == num_layers - 1 else "lrelu"
            layer = FullyConnectedLayer(
                features[idx], features[idx + 1], activation=activation, lr_multiplier=lr_multiplier
            )
            setattr(self, f"fc{idx}", layer)
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        parts = []
        if self.z_dim > 0:
            z = z.to(torch.float32)
            parts.append(normalize_2nd_moment(z) if self.normalize_z else z)
        if self.c_dim > 0:
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            x[:, :cutoff] = self.w_avg.lerp(x[:, :cutoff], truncation_psi)
        return x
