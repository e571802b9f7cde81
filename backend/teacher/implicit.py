"""A head given as an implicit field, wearing the generator's interface.

Subclasses define ``field(points) -> (signed distance, rgb in [0, 1])`` in the generator's
world frame; this class turns it into raw density (``level`` on the surface, rising inside),
decoder-like features (colour in the first three channels, as the raw image expects) and
volume renders with PanoRig's own renderer, so geometry, texture and tests treat it like a
trained generator.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from ..models.rays import camera_rays
from ..models.renderer import ImportanceRenderer, RenderSettings

LEVEL = 10.0  # PanoHead's iso level
SIGMA_RANGE = (-20.0, 60.0)


class ImplicitHead:
    def __init__(self, slope: float = 600.0, resolution: int = 64) -> None:
        self.slope = slope  # raw sigma per generator unit of depth below the surface
        self.config = SimpleNamespace(box_warp=1.0)
        self.neural_rendering_resolution = resolution
        self.renderer = ImportanceRenderer(
            RenderSettings(depth_resolution=48, depth_resolution_importance=48, triplane_crop=0)
        )

    def field(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def density(self, sdf: np.ndarray) -> np.ndarray:
        """Raw sigma from signed distance: ``LEVEL`` on the surface, clipped far from it."""
        return np.clip(LEVEL - self.slope * sdf, *SIGMA_RANGE)

    # --- the generator interface ------------------------------------------------------------
    def synthesize_grids(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        return torch.zeros(ws.shape[0], 1)

    def query(self, grids: torch.Tensor, points: torch.Tensor) -> dict[str, torch.Tensor]:
        flat = points.detach().reshape(-1, 3).cpu().numpy().astype(np.float64)
        sdf, rgb = self.field(flat)
        shape = points.shape[:-1]
        sigma = torch.from_numpy(self.density(sdf).astype(np.float32)).reshape(*shape, 1)
        features = torch.zeros(*points.shape[:-1], 32)
        features[..., :3] = torch.from_numpy(rgb.astype(np.float32) * 2 - 1).reshape(
            *points.shape[:-1], 3
        )
        return {"sigma": sigma.to(points.device), "rgb": features.to(points.device)}

    def raw_rgb(self, features: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        return features[:, :3]

    def synthesis(
        self,
        ws,
        c,
        neural_rendering_resolution=None,
        noise_mode="const",
        deterministic=True,
        generator=None,
        grids=None,
    ) -> dict[str, torch.Tensor]:
        res = neural_rendering_resolution or self.neural_rendering_resolution
        origins, directions = camera_rays(c, res)
        out = self.renderer(lambda p: self.query(grids, p), origins, directions, True)
        n = c.shape[0]
        features = out.features.permute(0, 2, 1).reshape(n, -1, res, res)
        raw = self.raw_rgb(features, ws)
        return {
            "image": F.interpolate(raw, scale_factor=2, mode="bilinear", align_corners=False),
            "image_raw": raw,
            "image_depth": out.depth.permute(0, 2, 1).reshape(n, 1, res, res),
            "image_mask": out.weight.permute(0, 2, 1).reshape(n, 1, res, res),
            "feature_image": features,
        }
