"""Super-resolution heads of EG3D/PanoHead: two StyleGAN2 blocks driven by the last w.

The released modules hard-code their widths and resolutions; they are described here as data
(``SR_MODULES``) rather than as one class per variant.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .fast_path import channels_last_upsampling
from .stylegan2 import SynthesisBlock
from .stylegan2.resample import fir_filter


@dataclass(frozen=True)
class SRSpec:
    input_resolution: int
    output_resolution: int
    blocks: tuple[tuple[int, int, bool], ...]  # (resolution, out_channels, upsample)
    has_filter_buffer: bool
    resize_only_up: bool  # 4X only resizes smaller inputs; the others resize any mismatch


SR_MODULES: dict[str, SRSpec] = {
    "SuperresolutionHybrid2X": SRSpec(64, 128, ((64, 128, False), (128, 64, True)), True, False),
    "SuperresolutionHybrid4X": SRSpec(128, 256, ((128, 128, False), (256, 64, True)), True, True),
    "SuperresolutionHybrid8X": SRSpec(128, 512, ((256, 128, True), (512, 64, True)), True, False),
    "SuperresolutionHybrid8XDC": SRSpec(
        128, 512, ((256, 256, True), (512, 128, True)), False, False
    ),
}


class SuperResolution(nn.Module):
    """Upsamples the raw image and the feature image, then refines with two synthesis blocks."""

    def __init__(
        self,
        name: str,
        channels: int = 32,
        use_fp16: bool = True,
        antialias: bool = True,
        w_dim: int = 512,
    ) -> None:
        super().__init__()
        if name not in SR_MODULES:
            raise ValueError(
                f"unknown super-resolution module {name!r}; known: {sorted(SR_MODULES)}"
            )
        spec = SR_MODULES[name]
        self.name = name
        self.spec = spec
        self.input_resolution = spec.input_resolution
        self.antialias = antialias
        in_ch = channels
        for idx, (res, out_ch, upsample) in enumerate(spec.blocks):
            block = SynthesisBlock(
                in_ch,
                out_ch,
                w_dim,
                res,
                img_channels=3,
                upsample=upsample,
                use_fp16=use_fp16,
                conv_clamp=256 if use_fp16 else None,
            )
            setattr(self, f"block{idx}", block)
            in_ch = out_ch
        if spec.has_filter_buffer:
            self.register_buffer("resample_filter", fir_filter())

    def forward(
        self,
        rgb: torch.Tensor,
        x: torch.Tensor,
        ws: torch.Tensor,
        noise_mode: str = "none",
        fused: bool = True,
    ) -> torch.Tensor:
        ws = ws[:, -1:].repeat(1, 3, 1)
        size = x.shape[-1]
        target = self.input_resolution
        if size != target and not (self.spec.resize_only_up and size > target):

            def resize(t: torch.Tensor) -> torch.Tensor:
                return F.interpolate(
                    t,
                    size=(target, target),
                    mode="bilinear",
                    align_corners=False,
                    antialias=self.antialias,
                )

            x, rgb = resize(x), resize(rgb)
        with channels_last_upsampling():
            x, rgb = self.block0(x, rgb, ws, noise_mode=noise_mode, fused=fused)
            x, rgb = self.block1(x, rgb, ws, noise_mode=noise_mode, fused=fused)
        return rgb
