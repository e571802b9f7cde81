"""Conformance with arrays made by the reference PanoHead code (shared/fixtures/panohead_tiny)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from backend.models import GeneratorConfig, load_generator
from backend.models.presets import demo
from backend.models.rays import camera_rays

ATOL = 1e-5
ATOL_SR = 1e-4  # the super-resolved image (values up to ~15) accumulates more rounding


@pytest.fixture(scope="module", params=["reference", "fast"])
def fixture(shared_dir, request):
    """The fixture's generator on the reference path and on the fast path (compiled kernels;
    the first test compiles, about two minutes on two cold cores)."""
    root = shared_dir / "fixtures" / "panohead_tiny"
    inputs = dict(np.load(root / "inputs.npz"))
    outputs = dict(np.load(root / "outputs.npz"))
    G = load_generator(root / "G_tiny.pkl", device="cpu")
    return G.use_fast_path(request.param == "fast"), inputs, outputs


def _close(name, actual, expected, atol=ATOL):
    actual = actual.detach().cpu().numpy()
    assert actual.shape == expected.shape, name
    err = np.abs(actual - expected).max()
    assert err <= atol, f"{name}: max abs error {err:.3g} > {atol}"


@torch.no_grad()
def test_mapping_and_truncation(fixture):
    G, inp, out = fixture
    z, c = torch.from_numpy(inp["z"]), torch.from_numpy(inp["c"])
    _close("ws", G.mapping(z, c), out["ws"])
    _close(
        "ws_trunc",
        G.mapping(z, c, truncation_psi=0.7, truncation_cutoff=4),
        out["ws_trunc_psi0.7_cutoff4"],
    )


@torch.no_grad()
def test_the_latents_scale_is_kept_only_where_the_config_says():
    """StyleGAN (and every official file) maps z and 1.3 z to the same w; the demo's 8-number
    latent keeps its norm, since each number is one trait of the teacher."""
    z, c = torch.randn(2, 8), torch.zeros(2, 25)
    for normalize in (True, False):
        config = dataclasses.replace(demo(), normalize_z=normalize)
        torch.manual_seed(0)
        G = config.build().eval()
        gap = float((G.mapping(z, c) - G.mapping(1.3 * z, c)).abs().max())
        assert gap < 1e-5 if normalize else gap > 1e-3
        assert GeneratorConfig.from_dict(config.to_dict()) == config
    assert not demo().normalize_z
    # files written before the setting existed are StyleGAN's
    older = {k: v for k, v in demo().to_dict().items() if k != "normalize_z"}
    assert GeneratorConfig.from_dict(older).normalize_z


@torch.no_grad()
def test_grids_and_point_samples(fixture):
    G, inp, out = fixture
    ws = torch.from_numpy(out["ws"])
    grids = G.synthesize_grids(ws, noise_mode="const")
    _close("planes", grids, out["planes"])
    s = G.sample_mixed(
        torch.from_numpy(inp["sample_points"]),
        torch.from_numpy(inp["sample_directions"]),
        ws,
        noise_mode="const",
    )
    _close("sample_sigma", s["sigma"], out["sample_sigma"])
    _close("sample_rgb", s["rgb"], out["sample_rgb"])
    # Their mesh grid: [b, i, j, k] at (-0.5 + i/15, -0.5 + j/15, -0.5 + k/15).
    axis = -0.5 + torch.arange(16, dtype=torch.float32) / 15
    pts = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)
    sigma = G.query(grids, pts.expand(3, -1, -1))["sigma"].reshape(3, 16, 16, 16)
    _close("grid16_sigma", sigma, out["grid16_sigma"])


@torch.no_grad()
def test_rays(fixture):
    _, inp, out = fixture
    origins, directions = camera_rays(torch.from_numpy(inp["c"]), 16)
    _close("ray_origins", origins, out["ray_origins"])
    _close("ray_directions", directions, out["ray_directions"])


@torch.no_grad()
def test_deterministic_synthesis(fixture):
    G, inp, out = fixture
    ws, c = torch.from_numpy(out["ws"]), torch.from_numpy(inp["c"])
    res = G.synthesis(ws, c, noise_mode="const", deterministic=True)
    for key in ("image_raw", "image_depth", "image_mask", "feature_image"):
        _close(key, res[key], out[key])
    _close("image", res["image"], out["image"], ATOL_SR)


@torch.no_grad()
def test_background_network(fixture):
    G, _, out = fixture
    ws = torch.from_numpy(out["ws"])
    count = G.bcg_synthesis.num_ws  # 10 > the backbone's 6: the last w is repeated
    ws_bcg = torch.cat([ws, ws[:, -1:].repeat(1, count - ws.shape[1], 1)], 1)
    _close("bcg_image", G.bcg_synthesis(ws_bcg, noise_mode="const"), out["bcg_image"])


@torch.no_grad()
def test_forward_with_camera_self_adaptation(fixture):
    G, inp, out = fixture
    z, c = torch.from_numpy(inp["z"]), torch.from_numpy(inp["c"])
    c_new, delta = G.adapt_camera(z, c)
    _close("delta_c", delta, out["delta_c"])
    _close("c_forward", c_new, out["c_forward"])
    res = G(z, c, truncation_psi=1.0, noise_mode="const", deterministic=True)
    for key in ("image_raw", "image_depth", "image_mask"):
        _close(f"forward_{key}", res[key], out[f"forward_{key}"])
    _close("forward_image", res["image"], out["forward_image"], ATOL_SR)
    _close("forward delta_c", res["delta_c"], out["delta_c"])


@torch.no_grad()
def test_stochastic_renderer_consumes_the_same_draws(fixture):
    """Seeded with the reference's seed, our sampler draws the same jitter and quantiles."""
    G, inp, out = fixture
    ws, c = torch.from_numpy(out["ws"]), torch.from_numpy(inp["c"])
    gen = torch.Generator().manual_seed(321)
    res = G.synthesis(ws, c, noise_mode="const", deterministic=False, generator=gen)
    for key in ("image_raw", "image_depth", "image_mask"):
        _close(f"stoch_{key}", res[key], out[f"stoch_{key}"])
    _close("stoch_image", res["image"], out["stoch_image"], ATOL_SR)
    # And it really is stochastic: another seed renders something else.
    other = G.synthesis(ws, c, deterministic=False, generator=torch.Generator().manual_seed(1))
    assert (other["image_depth"] - res["image_depth"]).abs().max() > 1e-4


@torch.no_grad()
def test_deterministic_is_repeatable_and_differs_from_stochastic(fixture):
    G, inp, out = fixture
    ws, c = torch.from_numpy(out["ws"]), torch.from_numpy(inp["c"])
    a = G.synthesis(ws, c, deterministic=True)["image_depth"]
    b = G.synthesis(ws, c, deterministic=True)["image_depth"]
    assert torch.equal(a, b)
    s = G.synthesis(ws, c, deterministic=False, generator=torch.Generator().manual_seed(5))
    assert (s["image_depth"] - a).abs().max() > 1e-4


def test_release_configuration_matches_the_official_state_dict(shared_dir):
    names = json.loads((shared_dir / "research" / "panohead_release_state_dict.json").read_text())
    G = GeneratorConfig().build()
    ours = [(k, list(v.shape)) for k, v in G.state_dict().items()]
    assert len(names) == 295
    assert ours == [(name, list(shape)) for name, shape, _dtype, _kind in names]
    params = {n for n, _ in G.named_parameters()}
    assert params == {name for name, _s, _d, kind in names if kind == "param"}
