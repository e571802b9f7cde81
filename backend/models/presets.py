"""Named generator configurations: the PanoHead and EG3D releases, a tiny one and the demo."""

from __future__ import annotations

import dataclasses
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
        # Each teacher trait is a function of its own latent number, not of its share of z's
        # norm: normalising 8 numbers would give the same head for z and 1.3 z.
        normalize_z=False,
        img_resolution=128,
        channel_base=4096,
        channel_max=128,
        grid_size=64,
        use_torgb_raw=False,
        use_background=False,
        superresolution=None,
        neural_rendering_resolution=128,
        c_scale=0.0,
        # The teacher family's faces sit higher in the frame than PanoHead's crops put them
        # (its crowns reach the top edge); tests/test_demo_model.py measures these from it.
        face_quad_y=0.336,
        face_quad_half=0.453,
    )


def eg3d_ffhq() -> GeneratorConfig:
    """EG3D's ffhq512-128.pkl and ffhqrebalanced512-128.pkl: 512 px images from 128 px neural
    renders of a 256^2 tri-plane, faces seen from the front."""
    return GeneratorConfig(
        architecture="eg3d",
        subject="face",
        grid_depth=1,
        decoder_activation="sigmoid",
        use_torgb_raw=False,
        use_background=False,
        neural_rendering_resolution=128,
        triplane_crop=0.0,
    )


def eg3d_afhq() -> GeneratorConfig:
    """EG3D's afhqcats512-128.pkl: FFHQ's layout with the older 8X super-resolution."""
    return dataclasses.replace(
        eg3d_ffhq(), subject="cat", superresolution="SuperresolutionHybrid8X"
    )


def eg3d_shapenet() -> GeneratorConfig:
    """EG3D's shapenetcars128-64.pkl: cars in a 1.6 box on white, 128 px from 64 px renders."""
    return dataclasses.replace(
        eg3d_ffhq(),
        subject="car",
        img_resolution=128,
        superresolution="SuperresolutionHybrid2X",
        neural_rendering_resolution=64,
        ray_start=0.1,
        ray_end=2.6,
        depth_resolution=64,
        depth_resolution_importance=64,
        box_warp=1.6,
        white_back=True,
    )


PRESETS: dict[str, Callable[[], GeneratorConfig]] = {
    "release": release,
    "tiny": tiny,
    "demo": demo,
    "eg3d_ffhq": eg3d_ffhq,
    "eg3d_afhq": eg3d_afhq,
    "eg3d_shapenet": eg3d_shapenet,
}
