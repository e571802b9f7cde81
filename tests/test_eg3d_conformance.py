"""Conformance with arrays made by EG3D's reference code (shared/fixtures/eg3d_tiny), and the
state-dict layout of EG3D's released configurations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from backend.models import generator_from_snapshot, load_generator
from backend.models.official_pickle import read_official_snapshot
from backend.models.presets import eg3d_afhq, eg3d_ffhq, eg3d_shapenet
from backend.models.rays import camera_rays
from backend.models.renderer import ImportanceRenderer, RenderSettings
from backend.models.triplane import TriPlaneSampler

RES = 20  # the fixture's neural rendering resolution
# atol 1e-5 for every array; 1e-4 for the super-resolved 128^2 images (values up to ~10).
ATOL_BY_NAME = {
    name: 1e-4 if name in ("image", "stoch_image") else 1e-5
    for name in (
        "ws",
        "ws_trunc_psi0.7_cutoff4",
        "planes_strided16",
        "planes_window",
        "planes_mean",
        "sample_sigma",
        "sample_rgb",
        "grid16_sigma",
        "ray_origins",
        "ray_directions",
        "image",
        "image_raw",
        "image_depth",
        "feature_image",
        "stoch_image",
        "stoch_image_raw",
        "stoch_image_depth",
        "stoch_jitter",
        "stoch_u",
    )
}


@pytest.fixture(scope="module")
def fixture(shared_dir):
    root = shared_dir / "fixtures" / "eg3d_tiny"
    inputs = {k: torch.from_numpy(v) for k, v in np.load(root / "inputs.npz").items()}
    outputs = dict(np.load(root / "outputs.npz"))
    G = load_generator(root / "G_tiny.pkl", device="cpu")
    return G, inputs, outputs


@pytest.fixture(scope="module")
def ours(fixture):
    """Every array of the fixture, computed by PanoRig from the fixture's inputs (and its ws)."""
    G, inp, out = fixture
    z, c, ws = inp["z"], inp["c"], torch.from_numpy(out["ws"])
    with torch.no_grad():
        planes = G.synthesize_grids(ws, noise_mode="const")
        points = inp["sample_points"]
        sampled = G.sample_mixed(points, inp["sample_directions"], ws, noise_mode="const")
        axis = -0.5 + torch.arange(16, dtype=torch.float32) / 15
        lattice = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1)
        grid16 = G.query(planes, lattice.reshape(1, -1, 3).expand(2, -1, -1))["sigma"]
        origins, directions = camera_rays(c, RES)
        det = G.synthesis(ws, c, noise_mode="const", deterministic=True, grids=planes)
        torch.manual_seed(23)  # the reference's seed before its stochastic render
        stoch = G.synthesis(ws, c, noise_mode="const", deterministic=False, grids=planes)
        torch.manual_seed(23)  # the draws it consumed: coarse jitter, then importance quantiles
        jitter, u = torch.rand(2, RES * RES, 12, 1), torch.rand(2 * RES * RES, 8)
        return {
            "ws": G.mapping(z, c),
            "ws_trunc_psi0.7_cutoff4": G.mapping(z, c, truncation_psi=0.7, truncation_cutoff=4),
            "planes_strided16": planes[..., ::16, ::16],
            "planes_window": planes[..., 124:132, 124:132],
            "planes_mean": planes.double().mean((-2, -1)),
            "sample_sigma": sampled["sigma"],
            "sample_rgb": sampled["rgb"],
            "grid16_sigma": grid16.reshape(2, 16, 16, 16),
            "ray_origins": origins,
            "ray_directions": directions,
            **{k: det[k] for k in ("image", "image_raw", "image_depth", "feature_image")},
            **{f"stoch_{k}": stoch[k] for k in ("image", "image_raw", "image_depth")},
            "stoch_jitter": jitter,
            "stoch_u": u,
        }


def test_every_fixture_array_is_checked(fixture, ours):
    assert set(ours) == set(fixture[2])


@pytest.mark.parametrize("name", sorted(ATOL_BY_NAME))
def test_array_matches_the_reference(fixture, ours, name):
    expected = fixture[2][name]
    actual = ours[name].detach().cpu().numpy()
    assert actual.shape == expected.shape, name
    err = float(np.abs(actual - expected).max())
    print(f"{name}: max abs error {err:.3g}")
    assert err <= ATOL_BY_NAME[name], f"{name}: max abs error {err:.3g} > {ATOL_BY_NAME[name]}"


def test_the_snapshot_builds_an_eg3d_generator(fixture):
    G, _, _ = fixture
    assert G.config.architecture == "eg3d" and G.config.subject == "face"
    assert isinstance(G.grid_sampler, TriPlaneSampler)
    assert G.t_mapping is None and G.bcg_synthesis is None and G.torgb is None
    assert not G.has_mask and G.config.triplane_crop == 0
    assert G.num_ws == 14 and G.neural_rendering_resolution == RES


@torch.no_grad()
def test_synthesis_has_no_mask_and_forward_no_camera_adaptation(fixture):
    """EG3D renders no mask, and G(z, c) is synthesis(mapping(z, c), c) from c as given.

    Both sides are computed here: the fixture's ws match a mapping run on another CPU only to
    rounding, and which SIMD kernels run decides the last bits."""
    G, inp, _ = fixture
    res = G(inp["z"], inp["c"], noise_mode="const", deterministic=True)
    assert set(res) == {"image", "image_raw", "image_depth", "feature_image", "delta_c"}
    assert torch.equal(res["delta_c"], torch.zeros(2, 3))
    ws = G.mapping(inp["z"], inp["c"])
    direct = G.synthesis(ws, inp["c"], noise_mode="const", deterministic=True)
    assert torch.equal(res["image"], direct["image"])


@pytest.mark.parametrize(
    ("changes", "subject"),
    [
        ({}, "face"),
        ({"avg_camera_pivot": [0, 0, -0.06]}, "cat"),
        ({"white_back": True, "box_warp": 1.6, "avg_camera_pivot": [0, 0, 0]}, "car"),
    ],
)
def test_the_release_family_is_read_from_the_rendering_settings(shared_dir, changes, subject):
    snap = read_official_snapshot(shared_dir / "fixtures" / "eg3d_tiny" / "G_tiny.pkl")
    rk = dict(snap.rendering_kwargs, **changes)
    G = generator_from_snapshot(dataclasses.replace(snap, rendering_kwargs=rk))
    assert G.config.subject == subject
    assert G.renderer.settings.white_back == (subject == "car")


def test_white_background_fills_empty_rays():
    """ShapeNet's renderer composites onto white: an empty ray's features are 1."""

    def empty(points: torch.Tensor) -> dict[str, torch.Tensor]:
        n, m, _ = points.shape
        return {"sigma": torch.full((n, m, 1), -100.0), "rgb": torch.zeros(n, m, 32)}

    origins = torch.tensor([[[0.0, 0.0, 2.0]]])
    directions = torch.tensor([[[0.0, 0.0, -1.0]]])
    settings = RenderSettings(ray_start=0.1, ray_end=2.6, triplane_crop=0)
    black = ImportanceRenderer(settings)(empty, origins, directions)
    white = ImportanceRenderer(dataclasses.replace(settings, white_back=True))(
        empty, origins, directions
    )
    assert black.features.abs().max() < 1e-6
    assert torch.allclose(white.features, torch.ones(1, 1, 32), atol=1e-6)


# --- state-dict layout ----------------------------------------------------------------------

# EG3D's super-resolution heads: (resolution, out channels) of their two blocks and whether they
# keep a resample filter of their own (training/superresolution.py).
SR_LAYOUTS = {
    "SuperresolutionHybrid2X": (((64, 128), (128, 64)), True),
    "SuperresolutionHybrid8X": (((256, 128), (512, 64)), True),
    "SuperresolutionHybrid8XDC": (((256, 256), (512, 128)), False),
}


def _layer(prefix, in_ch, out_ch, res, w_dim):
    return [
        (f"{prefix}.weight", [out_ch, in_ch, 3, 3], "param"),
        (f"{prefix}.noise_strength", [], "param"),
        (f"{prefix}.bias", [out_ch], "param"),
        (f"{prefix}.resample_filter", [4, 4], "buffer"),
        (f"{prefix}.noise_const", [res, res], "buffer"),
        (f"{prefix}.affine.weight", [in_ch, w_dim], "param"),
        (f"{prefix}.affine.bias", [in_ch], "param"),
    ]


def _block(prefix, in_ch, out_ch, res, img_ch, w_dim):
    names = [(f"{prefix}.const", [out_ch, 4, 4], "param")] if in_ch == 0 else []
    names.append((f"{prefix}.resample_filter", [4, 4], "buffer"))
    if in_ch:
        names += _layer(f"{prefix}.conv0", in_ch, out_ch, res, w_dim)
    names += _layer(f"{prefix}.conv1", out_ch, out_ch, res, w_dim)
    return names + [
        (f"{prefix}.torgb.weight", [img_ch, out_ch, 1, 1], "param"),
        (f"{prefix}.torgb.bias", [img_ch], "param"),
        (f"{prefix}.torgb.affine.weight", [out_ch, w_dim], "param"),
        (f"{prefix}.torgb.affine.bias", [out_ch], "param"),
    ]


def eg3d_state_dict(channel_base, channel_max, map_features, sr, w_dim=512, z_dim=512, c_dim=25):
    """(name, shape, kind) of an EG3D TriPlaneGenerator, written from its configuration: a 256^2
    StyleGAN2 'skip' backbone with 96 output channels, a 2-layer mapping network, the SR head
    and the decoder (FC 32->64, FC 64->33)."""
    names, in_ch = [], 0
    for log2 in range(2, 9):
        res = 2**log2
        out_ch = min(channel_base // res, channel_max)
        names += _block(f"backbone.synthesis.b{res}", in_ch, out_ch, res, 96, w_dim)
        in_ch = out_ch
    names += [
        ("backbone.mapping.w_avg", [w_dim], "buffer"),
        ("backbone.mapping.embed.weight", [w_dim, c_dim], "param"),
        ("backbone.mapping.embed.bias", [w_dim], "param"),
        ("backbone.mapping.fc0.weight", [map_features, z_dim + w_dim], "param"),
        ("backbone.mapping.fc0.bias", [map_features], "param"),
        ("backbone.mapping.fc1.weight", [w_dim, map_features], "param"),
        ("backbone.mapping.fc1.bias", [w_dim], "param"),
    ]
    blocks, own_filter = SR_LAYOUTS[sr]
    if own_filter:
        names.append(("superresolution.resample_filter", [4, 4], "buffer"))
    in_ch = 32
    for idx, (res, out_ch) in enumerate(blocks):
        names += _block(f"superresolution.block{idx}", in_ch, out_ch, res, 3, w_dim)
        in_ch = out_ch
    return names + [
        ("decoder.net.0.weight", [64, 32], "param"),
        ("decoder.net.0.bias", [64], "param"),
        ("decoder.net.2.weight", [33, 64], "param"),
        ("decoder.net.2.bias", [33], "param"),
    ]


def _layout(G):
    params = {name for name, _ in G.named_parameters()}
    return [
        (k, list(v.shape), "param" if k in params else "buffer") for k, v in G.state_dict().items()
    ]


def test_layout_writer_reproduces_the_fixture_state_dict(shared_dir, fixture):
    """The writer of the release layouts below, checked on the one EG3D itself wrote."""
    G, _, _ = fixture
    reference = np.load(shared_dir / "fixtures" / "eg3d_tiny" / "state_dict.npz")
    written = eg3d_state_dict(256, 8, 32, "SuperresolutionHybrid2X")
    assert [(k, list(reference[k].shape)) for k in reference] == [(k, s) for k, s, _ in written]
    assert _layout(G) == written
    ours = G.state_dict()
    assert all(torch.equal(ours[k], torch.from_numpy(reference[k])) for k in reference)


@pytest.mark.parametrize(
    ("preset", "sr"),
    [
        (eg3d_ffhq, "SuperresolutionHybrid8XDC"),
        (eg3d_afhq, "SuperresolutionHybrid8X"),
        (eg3d_shapenet, "SuperresolutionHybrid2X"),
    ],
)
def test_release_configurations_match_the_official_layout(preset, sr):
    G = preset().build()
    expected = eg3d_state_dict(32768, 512, 512, sr)
    assert _layout(G) == expected
    assert G.num_ws == 14
