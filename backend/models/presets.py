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


def demo() -> GeneratorConfig:
    """PanoRig's bundled demo generator: same building blocks, no super-resolution, no
    background, an 8-number latent (the teacher family's traits), camera-independent."""
    return GeneratorConfig(
        z_dim=8,
        w_dim=256,
        mapping_layer_features=256,
        img_resolution=128,
        channel_base=4096,
        channel_max=128,
        grid_size=64,
        use_torgb_raw=False,
        use_background=False,
        superresolution=None,
        neural_rendering_resolution=128,
        c_scale=0.0,
    )


PRESETS: dict[str, Callable[[], GeneratorConfig]] = {
    "release": release,
    "tiny": tiny,
    "demo": demo,
}
