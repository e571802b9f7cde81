"""The head generator: mapping -> backbone -> tri-grid or tri-plane -> decoder -> renderer.

One class for both official layouts, PanoHead's (tri-grid, background network, ToRGB, camera
self-adaptation, mask) and EG3D's (tri-plane, none of those); ``config.architecture`` picks the
feature sampler and the optional parts. Module names and parameter layout follow the official
``TriPlaneGenerator`` classes so that their weights load by name; the behaviour is PanoRig's own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import fast_path
from .config import ARCHITECTURES, SUBJECTS, GeneratorConfig
from .decoder import FeatureDecoder
from .feature_grids import TriGridSampler
from .rays import camera_rays
from .renderer import ImportanceRenderer, RenderSettings
from .stylegan2 import Backbone, MappingNetwork, SynthesisNetwork, ToRGBLayer
from .stylegan2.layers import NOISE_MODES
from .superresolution import SuperResolution
from .triplane import TriPlaneSampler

FEATURES = 32  # feature channels per grid, fixed by the PanoHead/EG3D architecture


class TriGridGenerator(nn.Module):
    """PanoHead or EG3D generator. Build with ``GeneratorConfig(...).build()``."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        cfg = self.config = config
        if cfg.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {cfg.architecture!r}; known: {ARCHITECTURES}")
        if cfg.subject not in SUBJECTS:
            raise ValueError(f"unknown subject {cfg.subject!r}; known: {SUBJECTS}")
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.img_resolution = cfg.img_resolution
        self.neural_rendering_resolution = cfg.neural_rendering_resolution
        panohead = cfg.architecture == "panohead"
        plane_axes = None if cfg.plane_axes is None else torch.tensor(cfg.plane_axes)
        self.grid_sampler = (
            TriGridSampler(cfg.grid_depth, FEATURES, cfg.box_warp, plane_axes)
            if panohead
            else TriPlaneSampler(FEATURES, cfg.box_warp, plane_axes)
        )
        self.renderer = ImportanceRenderer(
            RenderSettings(
                ray_start=cfg.ray_start,
                ray_end=cfg.ray_end,
                depth_resolution=cfg.depth_resolution,
                depth_resolution_importance=cfg.depth_resolution_importance,
                box_warp=cfg.box_warp,
                triplane_crop=cfg.triplane_crop,
                density_noise=cfg.density_noise,
                white_back=cfg.white_back,
            )
        )
        self.backbone = Backbone(
            cfg.z_dim,
            cfg.c_dim,
            cfg.w_dim,
            cfg.grid_size,
            self.grid_sampler.channels,
            cfg.mapping_layers,
            cfg.mapping_layer_features,
            cfg.channel_base,
            cfg.channel_max,
            cfg.num_fp16_res,
            cfg.conv_clamp,
            cfg.normalize_z,
        )
        self.num_ws = self.backbone.num_ws
        self.superresolution = (
            SuperResolution(
                cfg.superresolution,
                FEATURES,
                use_fp16=cfg.sr_num_fp16_res > 0,
                antialias=cfg.sr_antialias,
                w_dim=cfg.w_dim,
            )
            if cfg.superresolution
            else None
        )
        self.decoder = FeatureDecoder(
            FEATURES, FEATURES, activation=cfg.decoder_activation, lr_multiplier=cfg.decoder_lr_mul
        )
        self.torgb = ToRGBLayer(FEATURES, 3, cfg.w_dim) if cfg.use_torgb_raw else None
        background_res = (
            self.superresolution.input_resolution
            if self.superresolution is not None
            else cfg.neural_rendering_resolution
        )
        self.bcg_synthesis = (
            SynthesisNetwork(
                cfg.w_dim,
                background_res,
                FEATURES,
                cfg.channel_base // 2,
                cfg.channel_max,
                cfg.num_fp16_res,
                cfg.conv_clamp,
            )
            if cfg.use_background
            else None
        )
        # Camera self-adaptation (PanoHead): a small mapping network predicting a camera
        # translation offset.
        self.t_mapping = (
            MappingNetwork(
                cfg.z_dim,
                cfg.c_dim,
                3,
                num_ws=1,
                num_layers=cfg.mapping_layers,
                layer_features=cfg.mapping_layer_features,
                lr_multiplier=1.0,
                last_activation="linear",
                normalize_z=cfg.normalize_z,
            )
            if panohead
            else None
        )

        self.fast_path = fast_path.enabled_by_default()

    def use_fast_path(self, enabled: bool = True) -> TriGridGenerator:
        """Route the backbone, the background, the super-resolution and every field query
        through compiled kernels (``kernels``; the first call compiles, later processes load
        the cached code), or back to the readable reference modules. Outputs agree with the
        reference to float rounding (parity tests: 1e-5). Returns ``self``."""
        self.fast_path = bool(enabled)
        return self

    @property
    def has_mask(self) -> bool:
        """Whether ``synthesis`` returns 'image_mask'. EG3D carries the background in the volume,
        so its accumulated opacity is no foreground mask and it gives none."""
        return self.config.architecture == "panohead"

    # ----------------------------------------------------------------------------- conditioning

    def _condition(self, c: torch.Tensor) -> torch.Tensor:
        if self.config.c_gen_conditioning_zero:
            c = torch.zeros_like(c)
        return c * self.config.c_scale

    def mapping(
        self,
        z: torch.Tensor,
        c: torch.Tensor,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        """Latents z [N, z_dim] and camera labels c [N, 25] -> ws [N, num_ws, w_dim]."""
        return self.backbone.mapping(z, self._condition(c), truncation_psi, truncation_cutoff)

    def adapt_camera(
        self,
        z: torch.Tensor,
        c: torch.Tensor,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Camera self-adaptation: (c with the predicted translation added, the offset [N, 3]).

        A generator without it (EG3D) returns ``c`` unchanged and a zero offset.
        """
        if self.t_mapping is None:
            return c, c.new_zeros(c.shape[0], 3)
        delta = self.t_mapping(z, self._condition(c), truncation_psi, truncation_cutoff)[:, 0]
        c_new = c.clone()
        c_new[:, [3, 7, 11]] += delta
        return c_new, delta

    # ----------------------------------------------------------------------------- 3D field

    @fast_path.dispatching
    def synthesize_grids(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """Run the backbone once: ws -> feature grids [N, 3, 32*depth, S, S] (tri-plane:
        [N, 3, 32, S, S]) for ``query``."""
        _check_noise_mode(noise_mode)
        return self.grid_sampler.grids(self.backbone.synthesis(ws, noise_mode=noise_mode))

    def query(self, grids: torch.Tensor, points: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw decoder outputs at ``points`` [N, M, 3]: {'sigma': [N,M,1], 'rgb': [N,M,32]}."""
        if self.fast_path:
            return fast_path.query(self, grids, points)
        return self.decoder(self.grid_sampler(grids, points))

    def sample_mixed(
        self,
        points: torch.Tensor,
        directions: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: str = "const",
    ) -> dict[str, torch.Tensor]:
        """Raw sigma and colour features at ``points`` for latents ``ws`` (no triplane crop).

        ``directions`` is accepted for API compatibility; the decoder does not use view direction.
        """
        del directions
        return self.query(self.synthesize_grids(ws, noise_mode), points)

    # ----------------------------------------------------------------------------- images

    @fast_path.dispatching
    def synthesis(
        self,
        ws: torch.Tensor,
        c: torch.Tensor,
        neural_rendering_resolution: int | None = None,
        noise_mode: str = "const",
        deterministic: bool = False,
        generator: torch.Generator | None = None,
        grids: torch.Tensor | None = None,
        depth_samples: tuple[int, int] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Render latents ``ws`` from cameras ``c``.

        Returns 'image' (super-resolved), 'image_raw', 'image_depth', 'feature_image'
        (composited features incl. background, the input of ToRGB and SR) and, where
        ``has_mask``, 'image_mask'.
        ``grids`` from ``synthesize_grids(ws)`` skips the backbone when rendering many views.
        ``depth_samples`` (coarse, importance) replaces the configured samples per ray: fewer
        give a cheaper, rougher render (the early steps of a photo fit).
        """
        res = neural_rendering_resolution or self.neural_rendering_resolution
        if grids is None:
            grids = self.synthesize_grids(ws, noise_mode)
        origins, directions = camera_rays(c.to(torch.float32), res)
        out = self.renderer(
            lambda p: self.query(grids, p),
            origins,
            directions,
            deterministic,
            generator,
            depth_samples,
        )
        n = ws.shape[0]
        features = out.features.permute(0, 2, 1).reshape(n, -1, res, res).contiguous()
        depth = out.depth.permute(0, 2, 1).reshape(n, 1, res, res)
        weight = out.weight.permute(0, 2, 1).reshape(n, 1, res, res)
        if self.decoder.activation == "sigmoid":
            features = features * 2 - 1
        if self.bcg_synthesis is not None:
            background = self.bcg_synthesis(_pad_ws(ws, self.bcg_synthesis.num_ws), noise_mode)
            background = F.interpolate(
                background,
                size=(res, res),
                mode="bilinear",
                align_corners=False,
                antialias=self.config.sr_antialias,
            )
            features = features + (1 - weight) * background
        raw = self.raw_rgb(features, ws)
        if self.superresolution is not None:
            image = self.superresolution(
                raw, features, ws, noise_mode=self.config.superresolution_noise_mode
            )
        else:
            image = raw
        out = {"image": image, "image_raw": raw, "image_depth": depth, "feature_image": features}
        if self.has_mask:
            out["image_mask"] = weight * (1 + 2 * 0.001) - 0.001
        return out

    def raw_rgb(self, features: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        """The raw image's colour map: composited features [N, 32, H, W] -> [N, 3, H, W].

        A per-pixel linear map (ToRGB modulated by the last w), so it also gives the colour of
        single surface points when they are laid out as an image.
        """
        if self.torgb is None:
            return features[:, :3]
        return self.torgb(features, ws[:, -1], fused=False).to(torch.float32)

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        neural_rendering_resolution: int | None = None,
        noise_mode: str = "const",
        deterministic: bool = False,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Map and render with camera self-adaptation; adds 'delta_c' to the synthesis outputs
        (zero for EG3D, which renders from ``c`` as given)."""
        ws = self.mapping(z, c, truncation_psi, truncation_cutoff)
        c_new, delta = self.adapt_camera(z, c, truncation_psi, truncation_cutoff)
        out = self.synthesis(
            ws, c_new, neural_rendering_resolution, noise_mode, deterministic, generator
        )
        out["delta_c"] = delta
        return out


def _pad_ws(ws: torch.Tensor, count: int) -> torch.Tensor:
    """First ``count`` ws, repeating the last one when the backbone has fewer."""
    ws = ws[:, :count]
    if ws.shape[1] < count:
        ws = torch.cat([ws, ws[:, -1:].repeat(1, count - ws.shape[1], 1)], dim=1)
    return ws


def _check_noise_mode(noise_mode: str) -> None:
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
