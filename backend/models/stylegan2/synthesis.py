"""StyleGAN2 synthesis network ('skip' architecture) and the backbone pairing it with a mapping."""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import SynthesisLayer, ToRGBLayer
from .mapping import MappingNetwork
from .resample import fir_filter, upsample2d


class SynthesisBlock(nn.Module):
    """One resolution of a skip generator: (const | conv0) -> conv1 -> ToRGB added to the
    upsampled image.

    ``upsample=False`` gives the variant whose input is already at ``resolution`` (the first block
    of the 2X/4X super-resolution modules).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        upsample: bool = True,
        use_fp16: bool = False,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.upsample = upsample
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", fir_filter())
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(
                in_channels, out_channels, w_dim, resolution, up=upsample, conv_clamp=conv_clamp
            )
        self.conv1 = SynthesisLayer(
            out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp
        )
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: str = "const",
        fused: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # fp16 only where StyleGAN2 uses it: flagged blocks on CUDA.
        dtype = torch.float16 if self.use_fp16 and ws.device.type == "cuda" else torch.float32
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        else:
            x = x.to(dtype)
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused=fused)
        x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused=fused)
        if img is not None and self.upsample:
            img = upsample2d(img, self.resample_filter)
        y = self.torgb(x, next(w_iter), fused=fused).to(torch.float32)
        img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """Blocks from 4x4 up to ``img_resolution``; channels min(channel_base / res, channel_max)."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 0,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(
                f"synthesis resolution must be a power of two >= 4, got {img_resolution}"
            )
        log2 = int(math.log2(img_resolution))
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                channels[res // 2] if res > 4 else 0,
                channels[res],
                w_dim,
                res,
                img_channels,
                use_fp16=res >= fp16_resolution,
                conv_clamp=conv_clamp,
            )
            self.num_ws += block.num_conv
            setattr(self, f"b{res}", block)
        self.num_ws += 1  # the last block's ToRGB

    def forward(
        self, ws: torch.Tensor, noise_mode: str = "const", fused: bool = True
    ) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(
                f"expected ws of shape [batch, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}"
            )
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            cur = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            x, img = block(x, img, cur, noise_mode=noise_mode, fused=fused)
            w_idx += block.num_conv
        return img


class Backbone(nn.Module):
    """StyleGAN2 generator used as the tri-grid backbone: ``mapping`` then ``synthesis``."""

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        mapping_layers: int,
        mapping_layer_features: int | None,
        channel_base: int,
        channel_max: int,
        num_fp16_res: int,
        conv_clamp: float | None,
        normalize_z: bool = True,
    ) -> None:
        super().__init__()
        self.synthesis = SynthesisNetwork(
            w_dim, img_resolution, img_channels, channel_base, channel_max, num_fp16_res, conv_clamp
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim,
            c_dim,
            w_dim,
            self.num_ws,
            mapping_layers,
            mapping_layer_features,
            normalize_z=normalize_z,
        )
