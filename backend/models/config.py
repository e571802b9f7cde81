"""Configuration of a tri-grid (PanoHead) or tri-plane (EG3D) generator: a dataclass that builds it.

``GeneratorConfig.from_official`` reads the constructor kwargs and runtime attributes of an
official PanoHead/EG3D snapshot; ``to_dict``/``from_dict`` give PanoRig's JSON form.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import CheckpointError

if TYPE_CHECKING:
    from .generator import TriGridGenerator

SR_PREFIX = "training.superresolution."
# Keys earlier PanoRig checkpoints wrote that nothing reads (PanoHead's training-time camera
# sampler settings): skipped on load so those files keep loading.
RETIRED_KEYS = ("avg_camera_radius", "avg_camera_pivot")
# "panohead": tri-grid, camera self-adaptation, a foreground mask. "eg3d": tri-plane, none of them.
ARCHITECTURES = ("panohead", "eg3d")
# What the volume holds, which sets the mesh region: PanoHead's full head, or the front-facing
# EG3D releases' face (FFHQ), cat (AFHQ) or car (ShapeNet).
SUBJECTS = ("head", "face", "cat", "car")
EG3D_GRID_SIZE = 256  # EG3D's backbone resolution is hard-wired


@dataclass
class GeneratorConfig:
    """Everything needed to build a generator; defaults are the PanoHead release."""

    z_dim: int = 512
    c_dim: int = 25
    w_dim: int = 512
    img_resolution: int = 512
    architecture: str = "panohead"
    subject: str = "head"
    # mapping network
    mapping_layers: int = 2
    mapping_layer_features: int | None = None
    normalize_z: bool = True  # StyleGAN's z scaling; see MappingNetwork
    # StyleGAN2 backbone producing the tri-grid
    channel_base: int = 32768
    channel_max: int = 512
    num_fp16_res: int = 0
    conv_clamp: float | None = None
    grid_size: int = 256
    grid_depth: int = 3
    plane_axes: list[list[list[float]]] | None = None  # None = the architecture's own axes
    # decoder and images
    decoder_activation: str = "none"
    decoder_lr_mul: float = 1.0
    use_torgb_raw: bool = True
    use_background: bool = True
    superresolution: str | None = "SuperresolutionHybrid8XDC"
    sr_num_fp16_res: int = 4
    sr_antialias: bool = True
    superresolution_noise_mode: str = "none"
    neural_rendering_resolution: int = 64
    # conditioning
    c_scale: float = 1.0
    c_gen_conditioning_zero: bool = False
    # rendering
    ray_start: float = 2.25
    ray_end: float = 3.3
    depth_resolution: int = 48
    depth_resolution_importance: int = 48
    box_warp: float = 1.0
    triplane_crop: float = 0.1
    density_noise: float = 0.0
    white_back: bool = False
    # Where the training images put a frontal face's FFHQ quad (from the eyes and mouth), as
    # fractions of the image: the quad centre's height and its half side. Photos are cropped to
    # the same framing before a fit. PanoHead's crop (the quad plus 5 % margins left and right
    # and 10 % on top) puts it at 0.6/1.1 and 0.5/1.1.
    face_quad_y: float = 0.6 / 1.1
    face_quad_half: float = 0.5 / 1.1

    def build(self) -> TriGridGenerator:
        from .generator import TriGridGenerator

        return TriGridGenerator(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k not in RETIRED_KEYS}
        unknown = sorted(set(data) - names)
        if unknown:
            raise CheckpointError(
                f"unknown generator config keys {unknown}.",
                "The checkpoint was written by a newer PanoRig; update PanoRig.",
            )
        config = cls(**data)
        _check_framing(config)
        return config

    @classmethod
    def from_official(
        cls,
        init_kwargs: dict[str, Any],
        rendering_kwargs: dict[str, Any],
        neural_rendering_resolution: int,
        plane_axes: list | None = None,
    ) -> GeneratorConfig:
        """Config of an official snapshot; runtime ``rendering_kwargs`` win over the init copy."""
        rk = rendering_kwargs
        mk = dict(init_kwargs.get("mapping_kwargs") or {})
        unsupported = set(mk) - {"num_layers", "layer_features"}
        if unsupported:
            raise CheckpointError(
                f"mapping options {sorted(unsupported)} are not supported.",
                "Only PanoHead/EG3D checkpoints with the standard mapping network can be loaded.",
            )
        if init_kwargs.get("architecture", "skip") != "skip":
            raise CheckpointError(
                f"backbone architecture {init_kwargs['architecture']!r} is not supported.",
                "Only 'skip' backbones (as in PanoHead and EG3D) can be loaded.",
            )
        if rk.get("ray_start") == "auto" or rk.get("disparity_space_sampling"):
            raise CheckpointError(
                "automatic ray bounds and disparity-space sampling are not supported.",
                "Use a PanoHead snapshot or one of EG3D's released ones (FFHQ, AFHQ, ShapeNet "
                "cars), which all set fixed ray bounds.",
            )
        if rk.get("clamp_mode", "softplus") != "softplus":
            raise CheckpointError(f"clamp_mode {rk['clamp_mode']!r} is not supported.", "")
        # PanoHead writes its tri-grid settings; EG3D has none (a fixed 256^2 tri-plane).
        architecture = "panohead" if "triplane_depth" in rk else "eg3d"
        eg3d = architecture == "eg3d"
        sr = rk.get("superresolution_module")
        sr_name = sr[len(SR_PREFIX) :] if isinstance(sr, str) and sr.startswith(SR_PREFIX) else sr
        try:
            return cls(
                z_dim=int(init_kwargs["z_dim"]),
                c_dim=int(init_kwargs["c_dim"]),
                w_dim=int(init_kwargs["w_dim"]),
                img_resolution=int(init_kwargs["img_resolution"]),
                architecture=architecture,
                subject=_eg3d_subject(rk) if eg3d else "head",
                mapping_layers=int(mk.get("num_layers", 8)),
                mapping_layer_features=mk.get("layer_features"),
                channel_base=int(init_kwargs.get("channel_base", 32768)),
                channel_max=int(init_kwargs.get("channel_max", 512)),
                num_fp16_res=int(init_kwargs.get("num_fp16_res", 0)),
                conv_clamp=init_kwargs.get("conv_clamp"),
                grid_size=EG3D_GRID_SIZE if eg3d else int(rk["triplane_size"]),
                grid_depth=1 if eg3d else int(rk["triplane_depth"]),
                plane_axes=plane_axes,
                decoder_activation=rk.get("decoder_activation", "sigmoid"),
                decoder_lr_mul=float(rk.get("decoder_lr_mul", 1.0)),
                use_torgb_raw=bool(rk.get("use_torgb_raw", False)),
                use_background=bool(rk.get("use_background", False)),
                superresolution=sr_name,
                sr_num_fp16_res=int(init_kwargs.get("sr_num_fp16_res", 0)),
                sr_antialias=bool(rk.get("sr_antialias", True)),
                superresolution_noise_mode=rk.get("superresolution_noise_mode", "none"),
                neural_rendering_resolution=int(neural_rendering_resolution),
                c_scale=float(rk.get("c_scale", 0)),
                c_gen_conditioning_zero=bool(rk.get("c_gen_conditioning_zero", False)),
                ray_start=float(rk["ray_start"]),
                ray_end=float(rk["ray_end"]),
                depth_resolution=int(rk["depth_resolution"]),
                depth_resolution_importance=int(rk.get("depth_resolution_importance", 0)),
                box_warp=float(rk["box_warp"]),
                triplane_crop=0.0 if eg3d else cls.triplane_crop,
                density_noise=float(rk.get("density_noise", 0.0)),
                white_back=bool(rk.get("white_back", False)),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CheckpointError(
                f"the checkpoint's generator configuration is incomplete or malformed ({exc!r}).",
                "Use an unmodified PanoHead or EG3D snapshot.",
            ) from exc


def _check_framing(config: GeneratorConfig) -> None:
    """A hand-edited framing would crop every photo wrongly (NaN: an empty crop)."""
    y, half = config.face_quad_y, config.face_quad_half
    if not (
        isinstance(y, (int, float))
        and isinstance(half, (int, float))
        and 0.05 <= half <= 0.5
        and 0 < y < 1
    ):
        raise CheckpointError(
            f"face_quad_y={y!r} and face_quad_half={half!r} do not place a face in the frame "
            "(the half side must be 0.05-0.5 of the image, the centre inside it).",
            "Remove both keys from the file's config to use PanoHead's framing (0.545 and 0.455).",
        )


def _eg3d_subject(rendering_kwargs: dict[str, Any]) -> str:
    """Which EG3D release family: ShapeNet composites onto white, AFHQ's camera pivot sits
    behind the origin (z -0.06) and FFHQ's in front of it (z 0.2)."""
    if rendering_kwargs.get("white_back"):
        return "car"
    pivot = rendering_kwargs.get("avg_camera_pivot") or (0.0, 0.0, 0.2)
    return "cat" if float(pivot[2]) < 0 else "face"
