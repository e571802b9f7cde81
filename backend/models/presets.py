"""Named generator configurations: the PanoHead release and a tiny one for tests and demos."""

from __future__ import annotations

from collections.abc import Callable

from .config import GeneratorConfig


def release() -> GeneratorConfig:
    """PanoHead's released model (easy-khair-180-gpc0.8-trans10-025000.pkl)."""
    return GeneratorConfig()


def tiny() -> GeneratorConfig:
    """Same architecture at a size that renders in well under a second on a laptop CPU."""
    return GeneratorConfig(
        img_resolution=128,
        mapping_layer_features=64,
        channel_base=2048,
        channel_max=64,
        grid_size=64,
        superresolution="SuperresolutionHybrid2X",
        neural_rendering_resolution=32,
        depth_resolution=24,
        depth_resolution_importance=24,
    )


PRESETS: dict[str, Callable[[], GeneratorConfig]] = {"release": release, "tiny": tiny}
