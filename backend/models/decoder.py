"""The small MLP that turns sampled features into raw density and colour features."""

from __future__ import annotations

import math

import torch
from torch import nn

from .stylegan2 import FullyConnectedLayer


class FeatureDecoder(nn.Module):
    """FC 32->64, softplus, FC 64->1+32: channel 0 is raw sigma, the rest are colour features.

    ``activation`` is applied to the features only: 'none' (PanoHead), 'sigmoid' (EG3D) or 'lrelu'.
    """

    def __init__(
        self,
        in_features: int = 32,
        out_features: int = 32,
        hidden: int = 64,
        activation: str = "none",
        lr_multiplier: float = 1.0,
    ) -> None:
        super().__init__()
        if activation not in ("none", "sigmoid", "lrelu"):
            raise ValueError(f"unknown decoder activation {activation!r}")
        self.activation = activation
        self.net = nn.Sequential(
            FullyConnectedLayer(in_features, hidden, lr_multiplier=lr_multiplier),
            nn.Softplus(),
            FullyConnectedLayer(hidden, 1 + out_features, lr_multiplier=lr_multiplier),
        )

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """``features`` [N, M, C] -> {'sigma': [N, M, 1], 'rgb': [N, M, out_features]}."""
        n, m, c = features.shape
        x = self.net(features.reshape(n * m, c)).reshape(n, m, -1)
        rgb, sigma = x[..., 1:], x[..., :1]
        if self.activation == "sigmoid":
            rgb = torch.sigmoid(rgb) * (1 + 2 * 0.001) - 0.001
        elif self.activation == "lrelu":
            rgb = torch.nn.functional.leaky_relu(rgb, 0.2) * math.sqrt(2)
        return {"sigma": sigma, "rgb": rgb}
